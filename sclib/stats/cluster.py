"""Least squares with base-model-clustered errors, and three reference distributions.

The arithmetic under :mod:`sclib.stats.glm`. A Gaussian GLM with the identity link is
ordinary least squares; its cluster-robust covariance is R's ``sandwich::vcovCL`` for a
``glm`` (the paper's): the HC0 sandwich summed by cluster, times G / (G - 1) (checked
against the authors' published R output, ``sclib.stats.reference.PUBLISHED_TESTS``).

A statistic b / se is then referred to (``REFERENCES``):

- ``"t"``: t with G - 1 degrees of freedom (G clusters). Our default: with the paper's 3
  base models per cell a normal reference is anti-conservative (Cameron & Miller 2015,
  "A practitioner's guide to cluster-robust inference", section VI).
- ``"z"``: the standard normal: what the paper's ``coeftest``/``linearHypothesis`` on a
  ``glm`` use (``z test of coefficients``, a chi-square with 1 df).
- ``"wild"``: the wild cluster bootstrap-t with Webb's 6-point weights and the null
  imposed (Webb 2023, "Reworking wild bootstrap-based inference for clustered errors").
  With G clusters there are 6**G weight vectors: all of them are used when that is at most
  ``n_boot`` (G <= 4 by default: exact, no randomness), else ``n_boot`` seeded draws.
"""

from __future__ import annotations

import itertools

import numpy as np

REFERENCES = ("t", "z", "wild")
ALTERNATIVES = ("two-sided", "less", "greater")
# Webb's six-point distribution: +-sqrt(1/2), +-1, +-sqrt(3/2), each with probability 1/6
WEBB_WEIGHTS = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])


def check_choice(value: str, name: str, choices: tuple[str, ...]) -> None:
    """Raise a ValueError naming ``value`` and the valid ``choices``."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")


def cluster_ols(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares coefficients and their cluster-robust covariance (R ``vcovCL``, glm).

    Args:
        x: design matrix, shape (n_rows, n_columns), full column rank.
        y: responses, shape (n_rows,).
        groups: integer cluster codes 0..G-1, shape (n_rows,); G >= 2.

    >>> x = np.c_[np.ones(4), [0, 1, 0, 1]]
    >>> beta, cov = cluster_ols(x, np.array([1.0, 0.0, 3.0, 1.0]), np.array([0, 0, 1, 1]))
    >>> beta.round(6).tolist(), float(np.sqrt(cov[1, 1]).round(6))
    ([2.0, -1.5], 0.5)
    """
    bread = np.linalg.inv(x.T @ x)
    beta = bread @ x.T @ y
    n_groups = int(groups.max()) + 1
    scores = np.zeros((n_groups, x.shape[1]))
    np.add.at(scores, groups, x * (y - x @ beta)[:, None])
    meat = scores.T @ scores * n_groups / (n_groups - 1)
    return beta, bread @ meat @ bread


def reference_p(stat: float, alternative: str, df: float | None) -> float:
    """P-value of ``stat`` under the standard normal (``df`` None) or t with ``df``."""
    from scipy import stats as st

    dist = st.norm if df is None else st.t(df)
    if alternative == "less":
        return float(dist.cdf(stat))
    if alternative == "greater":
        return float(dist.sf(stat))
    return float(2 * dist.sf(abs(stat)))


def _weights(n_groups: int, n_boot: int, seed: int) -> np.ndarray:
    """Every Webb weight vector when there are at most ``n_boot`` of them, else seeded draws."""
    if 6**n_groups <= n_boot:
        return np.array(list(itertools.product(WEBB_WEIGHTS, repeat=n_groups)))
    return np.random.default_rng(seed).choice(WEBB_WEIGHTS, size=(n_boot, n_groups))


def wild_cluster_p(
    x: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    column: int,
    alternative: str = "two-sided",
    n_boot: int = 9999,
    seed: int = 0,
) -> float:
    """Wild cluster bootstrap-t p-value (Webb weights, null imposed) for ``beta[column] = 0``.

    The restricted model (``column`` dropped) gives fitted values and residuals; each
    bootstrap sample multiplies a whole cluster's residuals by one weight, refits the full
    model and forms b* / se* with the same clustered covariance as :func:`cluster_ols`.
    The p-value is the share of samples at least as extreme as the observed statistic.
    """
    beta, cov = cluster_ols(x, y, groups)
    stat = beta[column] / np.sqrt(cov[column, column])
    rest = np.delete(x, column, axis=1)
    fitted = rest @ np.linalg.lstsq(rest, y, rcond=None)[0]
    n_groups = int(groups.max()) + 1
    w = _weights(n_groups, n_boot, seed)
    ys = fitted + w[:, groups] * (y - fitted)  # (n_samples, n_rows)
    bread = np.linalg.inv(x.T @ x)
    row = (bread @ x.T)[column]  # b*[column] = ys @ row
    resid = ys - (ys @ (bread @ x.T).T) @ x.T
    member = np.eye(n_groups)[groups]  # (n_rows, n_groups)
    var = ((resid * row) @ member) ** 2
    se = np.sqrt(var.sum(axis=1) * n_groups / (n_groups - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        stats = (ys @ row) / se
    if alternative == "less":
        return float(np.mean(stats <= stat))
    if alternative == "greater":
        return float(np.mean(stats >= stat))
    return float(np.mean(np.abs(stats) >= abs(stat)))
