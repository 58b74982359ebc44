"""The paper's GLM tests on tidy tables of runs (arXiv 2301.10884, its statistics).

The paper's analysis (its repository's analysis/Main_Analysis.Rmd, vision and language):
per cell, a Gaussian GLM with cluster-robust standard errors clustered by base model
(R: ``vcovCL(fit, cluster = base_model)``), and two-sided tests that the mean ablation
score is 0 (``linearHypothesis``: a chi-square with 1 df, i.e. a two-sided z test); the
untrained controls enter through an interaction with a 0/1 ``Random`` dummy and their
own cluster ids. ``paper_test`` is exactly that (checked against the authors' published
output, ``sclib.stats.reference.PUBLISHED_TESTS``).

Our own tests (``ablation_test``, ``interaction_test``) are the same GLM and the same
clustered errors, two-sided by default, but referred to t with G - 1 degrees of freedom
(G base models), not to z: with 3 base models a z reference is anti-conservative. A wild
cluster bootstrap with Webb weights is the alternative (``reference="wild"``); see
:mod:`sclib.stats.cluster`. Fewer than 2 base models: untestable (NaN p-value).

``long_format`` turns one row per run into the paper's one row per run x test set. The
tests cell by cell (``cell_tests``, ``cell_interactions``, ``fraction_significant``) are in
:mod:`sclib.stats.reliability`. Used by notebooks/03_pretrained_vs_random.ipynb (through
``sclib.plots.pretraining`` too).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from sclib.stats.cluster import (
    ALTERNATIVES,
    REFERENCES,
    check_choice,
    cluster_ols,
    reference_p,
    wild_cluster_p,
)
from sclib.stats.scores import floor_at_chance
from sclib.stats.vocabulary import CELL_COLUMNS, CHANCE

# the columns whose values together name a run's base model
CLUSTER = ("regime", "pretraining", "base_model_id")
_TINY = 1e-12


@dataclass(frozen=True)
class GLMTest:
    """One coefficient of a Gaussian GLM with base-model-clustered standard errors.

    Attributes:
        term: the coefficient (``"Ablation"`` or ``"Ablation:Regime"``).
        coef: its estimate: the mean ablation score (``ablation_test``), or the
            difference of two regimes' mean ablation scores (``interaction_test``).
        se: cluster-robust standard error (R's ``vcovCL`` for a glm: HC0 with the
            G / (G - 1) cluster adjustment).
        stat: coef / se.
        p_value: for ``alternative``: ``"two-sided"`` (the default and the paper's),
            ``"less"`` (coef < 0) or ``"greater"``, under ``reference``.
        n_runs, n_clusters: runs (rows of the tidy table) and base models (G) used.
        reference: the distribution the p-value refers to: ``"t(G-1)"`` (G = ``n_clusters``),
            ``"z"``, ``"wild cluster bootstrap (Webb)"``, or ``PAPER_REFERENCE`` (``paper_test``).
    """

    term: str
    coef: float
    se: float
    stat: float
    p_value: float
    alternative: str
    n_runs: int
    n_clusters: int
    reference: str = ""


def present_columns(rows: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """Those of ``columns`` that ``rows`` has, in the order of ``columns``.

    >>> present_columns(pd.DataFrame(columns=["task", "regime"]), ("regime", "variant", "task"))
    ['regime', 'task']
    """
    return [c for c in columns if c in rows.columns]


def long_format(
    rows: pd.DataFrame,
    prefix: str = "zero_abl_acc",
    factor: str | None = None,
    cluster: Sequence[str] = CLUSTER,
    chance: float = CHANCE,
) -> pd.DataFrame:
    """The paper's long format: one row per run x test set.

    Args:
        rows: a tidy table, one row per run (ours or ``sclib.stats.reference.paper_runs()``),
            with ``<prefix>_target``, ``<prefix>_other`` and ``base_model_id``.
        prefix: which accuracies: ``"zero_abl_acc"`` (zero ablation), ``"rand_abl_acc"``,
            ``"sampled_abl_acc"``, ``"complement_abl_acc"``, or ``"sub_acc"`` (the
            subnetwork alone).
        factor: a column to carry along as ``Regime`` (e.g. ``"regime"``).
        cluster: the columns whose values together name a base model (those present are
            used): the paper's untrained controls reuse their trained model's id, so the
            regime is part of it.

    Returns:
        Columns ``run`` (row position in ``rows``), ``cluster``, ``test_set``
        (``"target"``/``"other"``), ``Ablation`` (1 for the target test set: the one of
        the subroutine whose subnetwork was ablated), ``Performance`` (accuracy floored at
        chance), ``Regime`` (with ``factor``), and the cell columns present.

    >>> runs = pd.DataFrame({"base_model_id": ["a", "b"], "zero_abl_acc_target": [0.1, 0.6],
    ...                      "zero_abl_acc_other": [1.0, 0.9]})
    >>> long_format(runs)[["run", "Ablation", "Performance"]].values.tolist()
    [[0.0, 1.0, 0.25], [0.0, 0.0, 1.0], [1.0, 1.0, 0.6], [1.0, 0.0, 0.9]]
    """
    needed = [f"{prefix}_target", f"{prefix}_other", "base_model_id"]
    missing = [c for c in needed + ([factor] if factor else []) if c not in rows.columns]
    if missing:
        raise ValueError(f"rows lack the columns {missing}; a tidy table of runs has them")
    rows = rows.reset_index(drop=True)
    ids = rows[present_columns(rows, cluster)].astype(str).agg("|".join, axis=1)
    keep = present_columns(rows, ("domain", *CELL_COLUMNS))
    parts = []
    for test_set, ablation in (("target", 1), ("other", 0)):
        part = rows[keep].copy()
        part.insert(0, "run", np.arange(len(rows)))
        part["cluster"] = ids.to_numpy()
        part["test_set"] = test_set
        part["Ablation"] = ablation
        part["Performance"] = floor_at_chance(rows[f"{prefix}_{test_set}"].astype(float), chance)
        if factor:
            part["Regime"] = rows[factor].to_numpy()
        parts.append(part)
    return (
        pd.concat(parts)
        .sort_values(["run", "Ablation"], ascending=[True, False], kind="stable")
        .reset_index(drop=True)
    )


def _design(long: pd.DataFrame, term: str) -> np.ndarray:
    """The design matrix: intercept, Ablation (and Regime, Ablation x Regime for the interaction)."""
    a = long["Ablation"].to_numpy(float)
    if term == "Ablation":
        return np.c_[np.ones(len(long)), a]
    r = long["Regime"].to_numpy(float)
    return np.c_[np.ones(len(long)), a, r, a * r]


def _glm(
    long: pd.DataFrame, term: str, alternative: str, reference: str, n_boot: int, seed: int
) -> GLMTest:
    """Fit the Gaussian GLM of ``term`` and test it with clustered errors; NaN when it cannot."""
    check_choice(alternative, "alternative", ALTERNATIVES)
    check_choice(reference, "reference", REFERENCES)
    n_runs, n_clusters = int(long["run"].nunique()), int(long["cluster"].nunique())
    label = _reference_label(reference)
    nan = GLMTest(term, *[float("nan")] * 4, alternative, n_runs, n_clusters, label)
    columns = ["Ablation"] + (["Regime"] if term != "Ablation" else [])
    if any(long[c].nunique() < 2 for c in columns):
        warnings.warn(f"{term}: {', '.join(columns)} must take both values; no test", stacklevel=3)
        return nan
    if long["Performance"].nunique() == 1:
        warnings.warn(
            f"{term}: no variation at all (every accuracy equal): p-value is NaN", stacklevel=3
        )
        return replace(nan, coef=0.0, se=0.0)
    x, y = _design(long, term), long["Performance"].to_numpy(float)
    groups = pd.factorize(long["cluster"])[0]
    column = x.shape[1] - 1  # the tested term is the last column
    coef = float(np.linalg.lstsq(x, y, rcond=None)[0][column])
    coef = 0.0 if abs(coef) < _TINY else coef
    if n_clusters < 2:
        warnings.warn(
            f"{term}: {n_clusters} base model(s), {n_runs} run(s); clustered errors need at "
            "least 2 base models: p-value is NaN",
            stacklevel=3,
        )
        return replace(nan, coef=coef)
    _, cov = cluster_ols(x, y, groups)
    se = float(np.sqrt(max(cov[column, column], 0.0)))
    se = 0.0 if se < _TINY else se
    if se == 0.0 and coef == 0.0:
        warnings.warn(
            f"{term}: no variation at all (every score equal to 0): p-value is NaN", stacklevel=3
        )
        return replace(nan, coef=coef, se=se)
    with np.errstate(divide="ignore"):
        stat = float(np.divide(coef, se))
    if reference == "wild" and se > 0:
        p = wild_cluster_p(x, y, groups, column, alternative, n_boot, seed)
    else:
        p = reference_p(stat, alternative, None if reference == "z" else n_clusters - 1)
    return GLMTest(term, coef, se, stat, p, alternative, n_runs, n_clusters, label)


def _reference_label(reference: str) -> str:
    check_choice(reference, "reference", REFERENCES)
    return {"t": "t(G-1)", "z": "z", "wild": "wild cluster bootstrap (Webb)"}[reference]


def ablation_test(
    rows: pd.DataFrame,
    prefix: str = "zero_abl_acc",
    alternative: str = "two-sided",
    cluster: Sequence[str] = CLUSTER,
    reference: str = "t",
    n_boot: int = 9999,
    seed: int = 0,
) -> GLMTest:
    """Does the mean ablation score differ from 0? ``Performance ~ Ablation``, clustered.

    The coefficient of ``Ablation`` is mean(floored target accuracy) - mean(floored other
    accuracy), i.e. the mean ablation score (every run gives one row of each). Its
    cluster-robust standard error is the paper's (identical to its test of ``(Intercept) +
    Ablation`` on subnetwork/ablation scores, :func:`paper_test`). The p-value is two-sided
    by default, as the paper's; ``reference`` (:data:`sclib.stats.cluster.REFERENCES`):
    ``"t"`` (t with G - 1 df, the default), ``"z"`` (the paper's) or ``"wild"`` (wild
    cluster bootstrap, Webb weights, ``n_boot`` and ``seed``). With ``prefix="sub_acc"`` it
    tests the subnetwork score instead. Fewer than 2 base models give a NaN p-value and a
    warning. Used by notebooks/03_pretrained_vs_random.ipynb.
    """
    long = long_format(rows, prefix, cluster=cluster)
    return _glm(long, "Ablation", alternative, reference, n_boot, seed)


def interaction_test(
    rows: pd.DataFrame,
    factor: str = "regime",
    levels: tuple[str, str] = ("scratch", "pretrained"),
    prefix: str = "zero_abl_acc",
    alternative: str = "two-sided",
    cluster: Sequence[str] = CLUSTER,
    reference: str = "t",
    n_boot: int = 9999,
    seed: int = 0,
) -> GLMTest:
    """Does the ablation score differ between two regimes? ``Performance ~ Ablation * Regime``.

    ``Regime`` is 0 for runs whose ``factor`` is ``levels[0]`` and 1 for ``levels[1]`` (other
    runs are dropped); the coefficient of ``Ablation:Regime`` is mean ablation score of
    ``levels[1]`` minus that of ``levels[0]`` (negative: ``levels[1]`` is more modular).
    The paper's contrasts: trained vs untrained (``levels=("scratch", "untrained")``, its
    ``Random`` dummy) and scratch vs pretrained. ``reference``, ``n_boot``, ``seed``: as in
    :func:`ablation_test` (G counts the base models of both regimes). Used by
    notebooks/03_pretrained_vs_random.ipynb.
    """
    if len(levels) != 2:
        raise ValueError(f"levels must be two values of {factor!r}, got {levels!r}")
    if factor not in rows.columns:
        raise ValueError(f"rows lack the factor column {factor!r}")
    rows = rows[rows[factor].isin(levels)]
    long = long_format(rows, prefix, factor=factor, cluster=cluster)
    long["Regime"] = (long["Regime"] == levels[1]).astype(int)
    per_level = long.groupby("Regime")["cluster"].nunique().reindex([0, 1], fill_value=0)
    # a two-cluster "test" of a difference between two regimes means nothing
    if per_level.min() < 2:
        warnings.warn(
            f"Ablation:Regime: base models per regime {dict(zip(levels, per_level, strict=True))}; "
            "the interaction needs at least 2 in each: p-value is NaN",
            stacklevel=2,
        )
        gaps = [_mean_ablation_gap(long[long["Regime"] == r]) for r in (0, 1)]
        n_runs, n_clusters = int(long["run"].nunique()), int(long["cluster"].nunique())
        nan = float("nan")
        label = _reference_label(reference)
        return GLMTest(
            "Ablation:Regime", gaps[1] - gaps[0], nan, nan, nan, alternative, n_runs, n_clusters,
            label,
        )  # fmt: skip
    return _glm(long, "Ablation:Regime", alternative, reference, n_boot, seed)


def _mean_ablation_gap(long: pd.DataFrame) -> float:
    """Mean Performance on the ablated subroutine's test set minus on the other's."""
    if long.empty:
        return float("nan")
    perf = long.groupby("Ablation")["Performance"].mean()
    return float(perf.get(1, float("nan")) - perf.get(0, float("nan")))


PAPER_REFERENCE = "the paper's test: z (chi-square, 1 df)"


def paper_test(
    rows: pd.DataFrame,
    levels: tuple[str, str] | None = None,
    factor: str = "regime",
    cluster: Sequence[str] = CLUSTER,
) -> GLMTest:
    """The paper's own test, as its ``analysis/Main_Analysis.Rmd`` ran it (R in Python).

    One row per run and score: ``Performance`` is ``subnetwork_score`` (``Ablation`` 0) or
    ``ablation_score`` (``Ablation`` 1); ``glm(Performance ~ Ablation)``; ``vcovCL`` by base
    model (HC0 x G / (G - 1)); ``linearHypothesis(fit, "(Intercept) + Ablation = 0")``: a
    chi-square with 1 df, i.e. a two-sided z test that the mean ablation score is 0. With
    ``levels`` (e.g. ``("scratch", "untrained")``): ``Performance ~ Ablation * Random``,
    ``Random`` = 1 for ``levels[1]``, testing ``Random + Ablation:Random = 0``: the difference
    of the two regimes' mean ablation scores. Reproduces the authors' published output
    (``sclib.stats.reference.PUBLISHED_TESTS``) to its rounding.
    """
    needed = ["subnetwork_score", "ablation_score", "base_model_id"] + ([factor] if levels else [])
    missing = [c for c in needed if c not in rows.columns]
    if missing:
        raise ValueError(f"rows lack the columns {missing}; the paper's test needs {needed}")
    rows = rows[rows[factor].isin(levels)] if levels else rows
    ids = rows[present_columns(rows, cluster)].astype(str).agg("|".join, axis=1).to_numpy()
    y = np.r_[rows["subnetwork_score"], rows["ablation_score"]].astype(float)
    a = np.r_[np.zeros(len(rows)), np.ones(len(rows))]
    groups = pd.factorize(np.r_[ids, ids])[0]
    term, x, contrast = "(Intercept) + Ablation", np.c_[np.ones(len(y)), a], np.array([1.0, 1.0])
    if levels:
        r = np.tile((rows[factor] == levels[1]).to_numpy(float), 2)
        term, x = "Random + Ablation:Random", np.c_[np.ones(len(y)), a, r, a * r]
        contrast = np.array([0.0, 0.0, 1.0, 1.0])
    n_clusters = int(groups.max()) + 1 if len(groups) else 0
    nan = GLMTest(term, *[float("nan")] * 4, "two-sided", len(rows), n_clusters, PAPER_REFERENCE)
    if n_clusters < 2 or np.linalg.matrix_rank(x) < x.shape[1]:
        warnings.warn(
            f"{term}: {n_clusters} base model(s) or a missing level: no test", stacklevel=2
        )
        return replace(nan, coef=float(rows["ablation_score"].mean()) if not levels else nan.coef)
    beta, cov = cluster_ols(x, y, groups)
    coef, se = float(contrast @ beta), float(np.sqrt(max(contrast @ cov @ contrast, 0.0)))
    if se < _TINY:
        return replace(nan, coef=coef, se=0.0)
    stat = coef / se
    return replace(nan, coef=coef, se=se, stat=stat, p_value=reference_p(stat, "two-sided", None))
