"""The paper's GLM tests on tidy tables of runs (../PAPER.md, "Metric and statistics").

The paper's analysis (its repository's analysis/Main_Analysis.Rmd, vision and language):
per cell, a Gaussian GLM with cluster-robust standard errors clustered by base model
(R: ``coeftest(fit, vcov. = vcovCL(fit, cluster = base_model))``, a z test); the
untrained controls enter through an interaction with a 0/1 ``Random`` dummy and their
own cluster ids. Fitted with statsmodels.

``long_format`` turns one row per run into the paper's one row per run x test set;
``ablation_test`` and ``interaction_test`` test one group of runs; ``cell_tests``,
``cell_interactions`` and ``fraction_significant`` do so per cell (``CELL_COLUMNS`` of
:mod:`sclib.stats.vocabulary`). Used by notebooks/03_pretrained_vs_random.ipynb (through
``sclib.plots.pretraining`` too).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from sclib.stats.scores import floor_at_chance
from sclib.stats.vocabulary import CELL_COLUMNS, CHANCE

# the columns whose values together name a run's base model
CLUSTER = ("regime", "pretraining", "base_model_id")
ALTERNATIVES = ("less", "greater", "two-sided")
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
        stat: coef / se, a z statistic (``use_t``: t with G - 1 degrees of freedom).
        p_value: for ``alternative``: ``"less"`` (coef < 0), ``"greater"``, ``"two-sided"``.
        n_runs, n_clusters: runs (rows of the tidy table) and base models used.
    """

    term: str
    coef: float
    se: float
    stat: float
    p_value: float
    alternative: str
    n_runs: int
    n_clusters: int


def _present(rows: pd.DataFrame, columns: Sequence[str]) -> list[str]:
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
    ids = rows[_present(rows, cluster)].astype(str).agg("|".join, axis=1)
    keep = _present(rows, ("domain", *CELL_COLUMNS))
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


def _p_value(stat: float, alternative: str, df: float | None) -> float:
    from scipy import stats as st

    dist = st.norm if df is None else st.t(df)
    if alternative == "less":
        return float(dist.cdf(stat))
    if alternative == "greater":
        return float(dist.sf(stat))
    return float(2 * dist.sf(abs(stat)))


def _glm(long: pd.DataFrame, formula: str, term: str, alternative: str, use_t: bool) -> GLMTest:
    """Fit ``formula`` (Gaussian GLM) and test ``term`` with clustered errors; NaN when it cannot."""
    import statsmodels.formula.api as smf

    if alternative not in ALTERNATIVES:
        raise ValueError(
            f"unknown alternative {alternative!r}; choose one of: {', '.join(ALTERNATIVES)}"
        )
    n_runs, n_clusters = int(long["run"].nunique()), int(long["cluster"].nunique())
    nan = GLMTest(term, *[float("nan")] * 4, alternative, n_runs, n_clusters)
    columns = [c for c in ("Ablation", "Regime") if c in formula]
    if any(long[c].nunique() < 2 for c in columns):
        warnings.warn(f"{term}: {', '.join(columns)} must take both values; no test", stacklevel=3)
        return nan
    if long["Performance"].nunique() == 1:
        warnings.warn(
            f"{term}: no variation at all (every accuracy equal): p-value is NaN", stacklevel=3
        )
        return replace(nan, coef=0.0, se=0.0)
    robust = n_clusters >= 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' perfect-prediction warning: handled below
        kwargs = {"groups": pd.factorize(long["cluster"])[0], "use_correction": False}
        try:
            fit = smf.glm(formula, long).fit(
                cov_type="cluster" if robust else "nonrobust", cov_kwds=kwargs if robust else None
            )
        except (ValueError, np.linalg.LinAlgError) as error:
            fit = error
    if isinstance(fit, Exception):
        warnings.warn(f"{term}: the GLM could not be fitted ({fit}): p-value is NaN", stacklevel=3)
        return nan
    coef = float(fit.params[term])
    coef = 0.0 if abs(coef) < _TINY else coef
    if not robust:
        warnings.warn(
            f"{term}: {n_clusters} base model(s), {n_runs} run(s); clustered errors need at "
            "least 2 base models: p-value is NaN",
            stacklevel=3,
        )
        return replace(nan, coef=coef)
    variance = fit.cov_params().loc[term, term] * n_clusters / (n_clusters - 1)
    se = float(np.sqrt(max(variance, 0.0)))
    se = 0.0 if se < _TINY else se
    if se == 0.0 and coef == 0.0:
        warnings.warn(
            f"{term}: no variation at all (every score equal to 0): p-value is NaN", stacklevel=3
        )
        return replace(nan, coef=coef, se=se)
    with np.errstate(divide="ignore"):
        stat = float(np.divide(coef, se))
    p = _p_value(stat, alternative, n_clusters - 1 if use_t else None)
    return GLMTest(term, coef, se, stat, p, alternative, n_runs, n_clusters)


def ablation_test(
    rows: pd.DataFrame,
    prefix: str = "zero_abl_acc",
    alternative: str = "less",
    cluster: Sequence[str] = CLUSTER,
    use_t: bool = False,
) -> GLMTest:
    """Is the mean ablation score below 0? ``Performance ~ Ablation``, clustered by base model.

    The coefficient of ``Ablation`` is mean(floored target accuracy) - mean(floored other
    accuracy), i.e. the mean ablation score (every run gives one row of each). Its
    cluster-robust test is the paper's (identical to its test of ``(Intercept) + Ablation``
    on subnetwork/ablation scores); the default p-value is one-sided, for "ablation score
    < 0". With ``prefix="sub_acc"`` and ``alternative="greater"`` it tests the subnetwork
    score instead. ``use_t``: t with G - 1 degrees of freedom instead of the paper's z (more
    honest with the paper's 3 base models per cell). Fewer than 2 base models give a NaN
    p-value and a warning. Used by notebooks/03_pretrained_vs_random.ipynb.
    """
    long = long_format(rows, prefix, cluster=cluster)
    return _glm(long, "Performance ~ Ablation", "Ablation", alternative, use_t)


def interaction_test(
    rows: pd.DataFrame,
    factor: str = "regime",
    levels: tuple[str, str] = ("scratch", "pretrained"),
    prefix: str = "zero_abl_acc",
    alternative: str = "two-sided",
    cluster: Sequence[str] = CLUSTER,
    use_t: bool = False,
) -> GLMTest:
    """Does the ablation score differ between two regimes? ``Performance ~ Ablation * Regime``.

    ``Regime`` is 0 for runs whose ``factor`` is ``levels[0]`` and 1 for ``levels[1]`` (other
    runs are dropped); the coefficient of ``Ablation:Regime`` is mean ablation score of
    ``levels[1]`` minus that of ``levels[0]`` (negative: ``levels[1]`` is more modular).
    The paper's contrasts: trained vs untrained (``levels=("scratch", "untrained")``, its
    ``Random`` dummy) and scratch vs pretrained. Used by notebooks/03_pretrained_vs_random.ipynb.
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
        return GLMTest(
            "Ablation:Regime", gaps[1] - gaps[0], nan, nan, nan, alternative, n_runs, n_clusters
        )
    return _glm(long, "Performance ~ Ablation * Regime", "Ablation:Regime", alternative, use_t)


def _mean_ablation_gap(long: pd.DataFrame) -> float:
    """Mean Performance on the ablated subroutine's test set minus on the other's."""
    if long.empty:
        return float("nan")
    perf = long.groupby("Ablation")["Performance"].mean()
    return float(perf.get(1, float("nan")) - perf.get(0, float("nan")))


def _per_cell(rows: pd.DataFrame, keys: list[str], test, **kwargs) -> pd.DataFrame:
    out = []
    for values, group in rows.groupby(keys, sort=True, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            result = test(group, **kwargs)
        out.append({**dict(zip(keys, values, strict=True)), **asdict(result)})
    return pd.DataFrame(out)


def cell_tests(
    rows: pd.DataFrame,
    by: Sequence[str] = ("regime",),
    cell: Sequence[str] = CELL_COLUMNS,
    **kwargs: Any,
) -> pd.DataFrame:
    """``ablation_test`` in every cell (``by`` x ``cell`` columns present): one row each.

    ``kwargs`` go to ``ablation_test`` (``prefix``, ``alternative``, ``use_t``). Untestable
    cells (one base model, no variation) have NaN p-values, without warnings.
    """
    return _per_cell(rows, _present(rows, [*by, *cell]), ablation_test, **kwargs)


def cell_interactions(
    rows: pd.DataFrame,
    factor: str = "regime",
    levels: tuple[str, str] = ("scratch", "pretrained"),
    cell: Sequence[str] = CELL_COLUMNS,
    **kwargs: Any,
) -> pd.DataFrame:
    """``interaction_test`` in every cell present at both levels: one row each.

    ``kwargs`` go to ``interaction_test`` (``prefix``, ``alternative``, ``use_t``).
    """
    keys = _present(rows, cell)
    both = rows[rows[factor].isin(levels)].groupby(keys, dropna=False)[factor].transform("nunique")
    rows = rows.loc[both.index[both == 2]]
    return _per_cell(rows, keys, interaction_test, factor=factor, levels=levels, **kwargs)


def fraction_significant(
    rows: pd.DataFrame,
    by: Sequence[str] = ("regime",),
    cell: Sequence[str] = CELL_COLUMNS,
    alpha: float = 0.05,
    **kwargs: Any,
) -> pd.DataFrame:
    """Per group of ``by``: the fraction of cells whose ablation score is significantly < 0.

    The reliability of structural compositionality (the paper's second message: pretrained
    models show it more reliably). A cell is task x architecture x subroutine x variant
    (``cell``; drop ``"variant"`` to pool singular and plural as the paper's language
    figures do); untestable cells count as not significant. ``kwargs`` go to
    ``ablation_test``. Used by notebooks/03_pretrained_vs_random.ipynb.

    Returns:
        Columns ``by`` + ``n_cells``, ``n_significant``, ``n_untestable``, ``fraction``.
    """
    tests = cell_tests(rows, by, cell, **kwargs)
    tests["significant"] = tests["p_value"] < alpha
    tests["untestable"] = tests["p_value"].isna()
    keys = _present(rows, by)
    summary = tests.groupby(keys, sort=True).agg(
        n_cells=("significant", "size"),
        n_significant=("significant", "sum"),
        n_untestable=("untestable", "sum"),
    )
    summary["fraction"] = summary["n_significant"] / summary["n_cells"]
    return summary.reset_index()
