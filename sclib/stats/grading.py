"""Imperfect, graded decomposition: a grade per run, bootstrap intervals, the gap to the ideal.

Used by ``notebooks/04_imperfect_decomposition.ipynb`` (Lepori et al., arXiv 2301.10884,
on imperfect decomposition: cells near 0, subnetworks above chance on the other subroutine), through
``sclib.plots.decomposition``: ``figures/imperfect_decomposition`` panels (a)
``ablation_distribution`` and (b) ``gap_to_ideal``, and ``figures/decomposition_grades``,
the ``graded_summary`` of :func:`decomposition_grade` (``sclib.plots.decomposition_figure``). Everything here reads tables of
run rows (``sclib.experiments.runner.run_cell`` rows, ``sclib.stats.reference.paper_runs()``);
where subnetworks live and how masks overlap is :mod:`sclib.stats.overlap`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from sclib.stats.vocabulary import CHANCE, SCORE_COLUMNS, ours_label

# identifier columns carried into per-run tables, where a table has them
ID_COLUMNS = (
    "source",
    "domain",
    "task",
    "variant",
    "architecture",
    "regime",
    "pretraining",
    "subroutine",
    "other_subroutine",
    "base_model_id",
    "base_seed",
    "mask_seed",
    "profile",
)
# the columns graded_summary groups by, where a table has them
SUMMARY_BY = ("source", "domain", "task", "variant", "architecture", "regime", "subroutine")
GRADE_KINDS = ("random_corrected", "zero_only")


# --------------------------------------------------------------------------- grading


def _floor(values: pd.Series, chance: float) -> pd.Series:
    return np.maximum(pd.to_numeric(values, errors="coerce"), chance)


def _column(rows: pd.DataFrame, name: str) -> pd.Series:
    if name in rows:
        return pd.to_numeric(rows[name], errors="coerce")
    return pd.Series(np.nan, index=rows.index, dtype=float)


def _base_accuracies(rows: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """T0, O0: ``base_pm_*`` where a row has both, else both ``base_comp_test_acc``; and where."""
    comp = _column(rows, "base_comp_test_acc")
    t0 = _column(rows, "base_pm_target_acc")
    o0 = _column(rows, "base_pm_other_acc")
    has_pm = t0.notna() & o0.notna()
    return t0.where(has_pm, comp), o0.where(has_pm, comp), has_pm


def _drops(
    rows: pd.DataFrame, prefix: str, t0: pd.Series, o0: pd.Series, chance: float
) -> tuple[pd.Series, pd.Series]:
    """Floored accuracy lost on the target and on the other set by the ablation ``prefix``."""
    target_drop = _floor(t0, chance) - _floor(_column(rows, f"{prefix}_target"), chance)
    other_drop = _floor(o0, chance) - _floor(_column(rows, f"{prefix}_other"), chance)
    return target_drop, other_drop


def _random_corrected(
    rows: pd.DataFrame, kind: str, has_pm: pd.Series, headroom: pd.Series
) -> pd.Series:
    """Which rows subtract the random ablation's selectivity, for grade ``kind``.

    Raises:
        ValueError: ``kind`` is ``"random_corrected"`` and a row with headroom lacks the
            base model's +/- accuracies or the size-matched random ablation's.
    """
    can_correct = (
        has_pm
        & _column(rows, "sampled_abl_acc_target").notna()
        & _column(rows, "sampled_abl_acc_other").notna()
    )
    if kind == "random_corrected" and not can_correct[headroom.notna()].all():
        raise ValueError(
            "grade kind 'random_corrected' needs base_pm_target_acc, base_pm_other_acc and "
            "sampled_abl_acc_target/_other in every row (the paper's rows have none); "
            "use kind='zero_only' or 'auto'"
        )
    return can_correct if kind == "auto" else pd.Series(kind != "zero_only", rows.index)


def grade_components(
    rows: pd.DataFrame, kind: str = "auto", chance: float = CHANCE, min_headroom: float = 0.05
) -> pd.DataFrame:
    """The pieces of :func:`decomposition_grade`, one row per run (same index as ``rows``).

    With accuracies floored at chance (f(a) = max(a, chance)), the base model's accuracies
    T0, O0 on the "+/-target" and "+/-other" sets, and an ablation's accuracies T, O:

    - ``headroom`` = f(T0) - chance: what there was to lose on the target;
    - ``target_drop`` = f(T0) - f(T), ``other_drop`` = f(O0) - f(O) (zero ablation);
    - ``zero_selectivity`` = (target_drop - other_drop) / headroom;
    - ``random_selectivity``: the same for the size-matched random ablation
      (``sampled_abl_*``: as many weights per layer as the subnetwork, anywhere);
    - ``grade`` = zero_selectivity - random_selectivity (``random_corrected``) or
      zero_selectivity alone (``zero_only``), clipped to [-1, 1]; nan where headroom <
      ``min_headroom`` (an untrained base model has nothing to lose).

    Args:
        kind: ``"random_corrected"`` (needs ``base_pm_target_acc``, ``base_pm_other_acc``
            and ``sampled_abl_acc_*``: our rows), ``"zero_only"`` (any row), or ``"auto"``:
            random_corrected where a row has those columns, zero_only elsewhere.
            zero_only takes T0, O0 from ``base_pm_*`` where present, else both from
            ``base_comp_test_acc`` (the paper's rows: its +/- accuracies of the base model
            are not published, and its base models score >= 0.994; the numerator is then
            exactly ``-ablation_score``).
    """
    if kind not in ("auto", *GRADE_KINDS):
        raise ValueError(
            f"unknown grade kind {kind!r}; choose one of: auto, {', '.join(GRADE_KINDS)}"
        )
    t0, o0, has_pm = _base_accuracies(rows)
    headroom = _floor(t0, chance) - chance
    headroom = headroom.where(headroom >= min_headroom)
    target_drop, other_drop = _drops(rows, "zero_abl_acc", t0, o0, chance)
    zero_sel = (target_drop - other_drop) / headroom
    random_target_drop, random_other_drop = _drops(rows, "sampled_abl_acc", t0, o0, chance)
    random_sel = (random_target_drop - random_other_drop) / headroom
    corrected = _random_corrected(rows, kind, has_pm, headroom)
    grade = zero_sel - random_sel.where(corrected, 0.0)
    return pd.DataFrame(
        {
            "grade_kind": np.where(corrected, "random_corrected", "zero_only"),
            "headroom": headroom,
            "target_drop": target_drop,
            "other_drop": other_drop,
            "zero_selectivity": zero_sel,
            "random_selectivity": random_sel.where(corrected),
            "grade": grade.clip(-1.0, 1.0),
        },
        index=rows.index,
    )


def decomposition_grade(
    rows: pd.DataFrame, kind: str = "auto", chance: float = CHANCE, min_headroom: float = 0.05
) -> pd.Series:
    """One number per run grading how cleanly ablating the subnetwork removes only its subroutine.

    ``grade = (target_drop - other_drop) / headroom`` for zero ablation, minus the same for
    the size-matched random ablation, clipped to [-1, 1] (:func:`grade_components` has the
    pieces). 1: ablation takes the target down to chance, leaves the other subroutine
    untouched, and a random ablation of the same size harms neither; 0: no selectivity
    (both lost alike, or neither, or no more than random ablation does); < 0: the other
    subroutine suffers more. Unlike ``ablation_score`` it is relative to what the base
    model had to lose and to what any ablation of that size does.
    ``kind`` says which variant (see :func:`grade_components`); the paper's rows get
    ``zero_only`` (no size-matched random ablation there), our rows ``random_corrected``.

    >>> perfect = pd.DataFrame({"base_pm_target_acc": [1.0], "base_pm_other_acc": [1.0],
    ...     "zero_abl_acc_target": [0.25], "zero_abl_acc_other": [1.0],
    ...     "sampled_abl_acc_target": [1.0], "sampled_abl_acc_other": [1.0]})
    >>> decomposition_grade(perfect).tolist()
    [1.0]
    """
    return grade_components(rows, kind, chance, min_headroom)["grade"].rename("grade")


class CI(NamedTuple):
    """A mean and its interval (nan where it cannot be estimated); see :func:`bootstrap_ci`."""

    mean: float
    low: float
    high: float


# below this many clusters the interval is a t-interval, not a percentile bootstrap
MIN_BOOTSTRAP_CLUSTERS = 6


def distinct_resamples(n_clusters: int) -> int:
    """How many different cluster resamples exist: C(2G - 1, G) multisets of G clusters.

    >>> [distinct_resamples(g) for g in (2, 3, 4, 5, 6)]
    [3, 10, 35, 126, 462]
    """
    return math.comb(2 * n_clusters - 1, n_clusters)


def interval_method(n_clusters: int) -> str:
    """The interval :func:`bootstrap_ci` draws with ``n_clusters`` clusters, in words."""
    if n_clusters < 2:
        return "none (fewer than 2 clusters)"
    if n_clusters < MIN_BOOTSTRAP_CLUSTERS:
        return f"t({n_clusters - 1}) over cluster means"
    return "cluster percentile bootstrap"


def _t_interval(means: np.ndarray, ci: float) -> tuple[float, float]:
    from scipy import stats as st

    half = st.t(len(means) - 1).ppf(0.5 + ci / 2) * means.std(ddof=1) / np.sqrt(len(means))
    return float(means.mean() - half), float(means.mean() + half)


def bootstrap_ci(
    values: Sequence[float] | np.ndarray | pd.Series,
    groups: Sequence | np.ndarray | pd.Series | None = None,
    n_boot: int = 2000,
    ci: float = 0.95,
    seed: int = 0,
) -> CI:
    """The mean and an interval that respects the clusters; nan values (and groups) dropped.

    With ``groups`` (e.g. ``base_model_id``) the unit is the cluster (mask seeds are nested
    in base models, so runs of one base model are not independent); without, every value.
    With G >= ``MIN_BOOTSTRAP_CLUSTERS`` units: a percentile bootstrap resampling whole
    clusters, each resample's mean over all runs of the drawn clusters. With fewer, a
    percentile bootstrap has too few distinct resamples to mean anything (C(2G - 1, G):
    10 for the paper's 3 base models, so its "95%" interval is the range of about 10
    numbers): the interval is then a t-interval with G - 1 degrees of freedom over the G
    cluster means (wide, as it should be with so little). ``mean`` is always the mean over
    runs. Fewer than two units: nan interval. :func:`interval_method` names the method.

    >>> [round(v, 2) for v in bootstrap_ci([1.0, 2.0, 3.0, 4.0], groups=["a", "a", "b", "b"])]
    [2.5, -10.21, 15.21]
    """
    vals = np.asarray(values, dtype=float)
    codes = np.arange(len(vals)) if groups is None else pd.factorize(np.asarray(groups))[0]
    if len(codes) != len(vals):
        raise ValueError(f"{len(vals)} values but {len(codes)} groups; give one group per value")
    keep = ~np.isnan(vals)
    vals, codes = vals[keep], codes[keep]
    if not len(vals):
        return CI(float("nan"), float("nan"), float("nan"))
    mean = float(vals.mean())
    _, codes = np.unique(codes, return_inverse=True)
    n_groups = codes.max() + 1
    if n_groups < 2:
        return CI(mean, float("nan"), float("nan"))
    sums = np.bincount(codes, weights=vals, minlength=n_groups)
    counts = np.bincount(codes, minlength=n_groups)
    if n_groups < MIN_BOOTSTRAP_CLUSTERS:
        return CI(mean, *_t_interval(sums / counts, ci))
    draws = np.random.default_rng(seed).integers(0, n_groups, size=(n_boot, n_groups))
    boot = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    low, high = np.quantile(boot, [(1 - ci) / 2, 1 - (1 - ci) / 2])
    return CI(mean, float(low), float(high))


def _kept_rows(rows: pd.DataFrame, drop_excluded: bool) -> pd.DataFrame:
    if drop_excluded and "excluded" in rows:
        return rows[~rows["excluded"].astype(bool)]
    return rows


def graded_summary(
    rows: pd.DataFrame,
    by: Sequence[str] | None = None,
    kind: str = "auto",
    cluster: str = "base_model_id",
    n_boot: int = 2000,
    ci: float = 0.95,
    seed: int = 0,
    drop_excluded: bool = True,
) -> pd.DataFrame:
    """Mean :func:`decomposition_grade` per cell with a cluster interval (:func:`bootstrap_ci`).

    Args:
        rows: run rows (ours, the paper's, or both concatenated).
        by: grouping columns; by default those of ``SUMMARY_BY`` that ``rows`` has.
        kind: grade variant (:func:`grade_components`).
        cluster: column whose values are resampled as clusters (runs nested in base models).
        drop_excluded: leave out runs on base models marked ``excluded``.

    Returns:
        One row per group: the ``by`` columns, ``grade_kind`` (the variants used, joined by
        "+"), ``grade_mean``, ``grade_low``, ``grade_high``, ``n_runs`` (graded runs),
        ``n_base_models``, ``interval`` (:func:`interval_method`: with fewer than
        ``MIN_BOOTSTRAP_CLUSTERS`` base models a t-interval, not a bootstrap).
    """
    rows = _kept_rows(rows, drop_excluded)
    by = [c for c in SUMMARY_BY if c in rows] if by is None else list(by)
    parts = grade_components(rows, kind)
    df = rows[by].assign(
        _grade=parts["grade"],
        _kind=parts["grade_kind"],
        _cluster=rows[cluster] if cluster in rows else np.arange(len(rows)),
    )
    out = []
    for key, group in df.groupby(by, sort=True, dropna=False):
        graded = group[group["_grade"].notna()]
        est = bootstrap_ci(graded["_grade"], graded["_cluster"], n_boot, ci, seed)
        out.append(
            {
                **dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)),
                "grade_kind": "+".join(sorted(graded["_kind"].unique())) or "none",
                "grade_mean": est.mean,
                "grade_low": est.low,
                "grade_high": est.high,
                "n_runs": len(graded),
                "n_base_models": graded["_cluster"].nunique(),
                "interval": interval_method(graded["_cluster"].nunique()),
            }
        )
    return pd.DataFrame(out)


# ----------------------------------------------------------------- distance from ideal


def _ids(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[[c for c in ID_COLUMNS if c in rows]].copy()


def gap_to_ideal(rows: pd.DataFrame, chance: float = CHANCE) -> pd.DataFrame:
    """How far each run's subnetwork is from an ideal one, per run.

    Returns:
        The identifier columns, then ``other_above_chance`` = f(sub_acc_other) - chance (an
        ideal subnetwork is at chance on the other subroutine; f floors at chance),
        ``target_below_ideal`` = 1 - sub_acc_target, and ``score_gap`` = (1 - chance) -
        subnetwork_score (the score's ideal is 0.75).
    """
    out = _ids(rows)
    out["other_above_chance"] = _floor(rows["sub_acc_other"], chance) - chance
    out["target_below_ideal"] = 1.0 - pd.to_numeric(rows["sub_acc_target"], errors="coerce")
    out["score_gap"] = (1.0 - chance) - pd.to_numeric(rows["subnetwork_score"], errors="coerce")
    return out


def _source_labels(rows: pd.DataFrame, default: str) -> pd.Series:
    if default == "paper":
        return pd.Series("paper", index=rows.index)
    profile = rows["profile"] if "profile" in rows else pd.Series(None, index=rows.index)
    label = profile.map(ours_label)
    if "source" in rows:  # keep a label a caller already set (e.g. plots.tidy_runs)
        label = rows["source"].where(rows["source"].notna() & (rows["source"] != "sclib"), label)
    return label


def ablation_distribution(
    ours: pd.DataFrame | None,
    paper: pd.DataFrame | None = None,
    ablations: Sequence[str] = ("zero",),
    drop_excluded: bool = True,
) -> pd.DataFrame:
    """A long table of ablation scores, ours beside the paper's, for a histogram or violin.

    Args:
        ours: our run rows (``source`` "sclib" becomes "ours (<profile> profile)"; a label a
            caller already set is kept).
        paper: ``sclib.stats.reference.paper_runs()`` (``source`` "paper"), or None.
        ablations: ablation modes (``sclib.ablation.ABLATION_MODES``); a table without a mode's
            score column (the paper has only zero and random_reinit) contributes no rows.
        drop_excluded: leave out runs on base models marked ``excluded``.

    Returns:
        One row per run and ablation: the identifier columns, ``source``, ``ablation``,
        ``score``.
    """
    unknown = [a for a in ablations if a not in SCORE_COLUMNS]
    if unknown:
        raise ValueError(f"unknown ablations {unknown}; choose from: {', '.join(SCORE_COLUMNS)}")
    parts = []
    for frame, default in ((ours, "ours"), (paper, "paper")):
        if frame is None or frame.empty:
            continue
        frame = _kept_rows(frame, drop_excluded)
        for mode in ablations:
            col = SCORE_COLUMNS[mode]
            if col not in frame:
                continue
            part = _ids(frame).assign(
                source=_source_labels(frame, default),
                ablation=mode,
                score=pd.to_numeric(frame[col], errors="coerce"),
            )
            parts.append(part[part["score"].notna()])
    if not parts:
        return pd.DataFrame(columns=["source", "ablation", "score"])
    return pd.concat(parts, ignore_index=True)
