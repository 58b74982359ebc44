"""Does weight sparsity amplify decomposition? The table and the verdict (issue #16).

Used by ``notebooks/07_sparsity.ipynb`` and ``sclib.plots.sparsity``. ``rows`` are
``sclib.experiments.sparsity.run_sparsity`` rows: one per run, each cell at several base
weight densities (``weight_density``, the target; ``base_weight_density``, measured).

**The rule** (fixed before any result was seen, never tuned on one). A *trained* cell
(regime scratch or pretrained; task x architecture x subroutine x variant) is *modular* at
a density when its mean ablation score there is below ``-MARGIN`` and, with at least
``MIN_SEEDS`` included base seeds, a one-sample t-test of its ablation scores against 0
(one-sided, mean < 0) has p < ``ALPHA``. Then, comparing each trained cell at density 1
(dense) with its sparsest density that has included runs:

- ``"amplify"``: at least one cell is modular when dense, every such cell's sparsest mean
  lies more than ``MARGIN`` below its dense mean, and no cell that is not modular when
  dense is modular at its sparsest density;
- ``"enforce"``: at least one cell is not modular when dense, and every cell, those
  included, is modular at its sparsest density;
- ``"neither"``: anything else;
- ``"not decidable at this scale"``: some trained (cell, density) has fewer than
  ``MIN_SEEDS`` included runs, or fewer than 2 densities (density 1 among them) have
  included runs.

``MARGIN`` = 0.1: one ablation score is a difference of two accuracies on "+/-" test sets
of 300-500 problems, whose binomial standard error is about 0.035 near accuracy 0.75, so
0.1 is about three standard errors of one run: noise of the test sets alone does not
cross it. It is also the margin notebook 02's verdicts use. The t-test is what guards
against seed-to-seed spread, which at one seed can be as large as the effect (README,
"Reproducibility").

The untrained sparse control (regime untrained, random weights at the same density) is
reported beside the verdict: whether its mean ablation score is near 0 (``|mean| <
MARGIN``) at every density, and whether it is modular (the rule above) at any density
below 1; if it is, the text says that sparsity itself, not learning, produces the effect.
Excluded runs (``excluded``) are left out of every mean and counted; the untrained
control is never excluded.

>>> rows = pd.DataFrame({"domain": "vision", "task": "inside_contact",
...     "architecture": "resnet", "subroutine": "inside", "variant": "none",
...     "regime": "scratch", "base_seed": [0, 1], "weight_density": [1.0, 0.2],
...     "ablation_score": [-0.3, -0.5], "excluded": False})
>>> verdict(rows).reading
'not decidable at this scale'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from sclib.stats.vocabulary import TRAINED_REGIMES, as_bool

MARGIN = 0.1  # see the module docstring: about three binomial standard errors of one run
ALPHA = 0.05
MIN_SEEDS = 3
DENSE = 1.0
NO_SUBNETWORK = "no subnetwork passed"  # sclib.experiments.runner.EXCLUSION_REASONS[1]
READINGS = ("amplify", "enforce", "neither", "not decidable at this scale")
KEYS = ["domain", "task", "architecture", "subroutine", "variant", "regime", "weight_density"]
CELL_KEYS = KEYS[:-1]
MEASURES = (
    "ablation_score",
    "subnetwork_score",
    "sampled_ablation_score",  # the size-matched random ablation
    "kept_fraction",  # of the masked region's nonzero weights
    "base_comp_test_acc",
    "base_weight_density",
)


def _p_below_zero(mean: float, sd: float, n: int) -> float:
    """One-sided p of a one-sample t-test that the mean is below 0 (NaN with n < 2)."""
    if n < 2 or math.isnan(mean) or math.isnan(sd):
        return float("nan")
    if sd == 0:
        return 0.0 if mean < 0 else 1.0
    return float(stats.t.cdf(mean / (sd / math.sqrt(n)), df=n - 1))


def _seed_scores(runs: pd.DataFrame) -> pd.Series:
    """One ablation score per base seed (mask seeds averaged within it): the t-test's units."""
    if "ablation_score" not in runs:
        return pd.Series(dtype=float)
    if "base_seed" not in runs:
        return runs["ablation_score"].dropna()
    return runs.groupby("base_seed")["ablation_score"].mean().dropna()


# a sparse run whose base model's measured density is off its target by more than this
# (relative) is left out: its weights are not the level it is filed under (e.g. a
# best-validation checkpoint restored from before the annealing reached the target)
DENSITY_TOLERANCE = 0.1


def off_density(rows: pd.DataFrame, tolerance: float = DENSITY_TOLERANCE) -> pd.Series:
    """Whether each run's measured ``base_weight_density`` is off its target
    ``weight_density`` by more than ``tolerance`` (relative); False where not measured.

    >>> off_density(pd.DataFrame({"weight_density": [0.2, 0.02], "base_weight_density": [0.19999, 0.265]})).tolist()
    [False, True]
    """  # noqa: E501
    if "base_weight_density" not in rows:
        return pd.Series(False, index=rows.index)
    measured = pd.to_numeric(rows["base_weight_density"], errors="coerce")
    target = pd.to_numeric(rows["weight_density"], errors="coerce")
    return ((measured / target - 1).abs() > tolerance).fillna(False)


def sparsity_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per cell (domain, task, architecture, subroutine, variant, regime) and weight density:
    the mean of each of ``MEASURES`` over the included runs, their count ``n`` and their
    base seeds ``n_seeds``, the runs left out ``n_excluded`` (excluded as usual, or
    ``n_off_density`` of them because their base model's measured density is off the
    target: ``off_density``; ``n_no_subnetwork`` of them because no mask reached the
    selection threshold); over the base seeds (mask
    seeds averaged within each), the ablation scores' standard deviation and the one-sided
    p of a t-test of mean < 0 (``ablation_score_sd``, ``ablation_p_below_0``); and
    ``base_comp_test_acc_all``, the base models' mean accuracy over every run, excluded
    ones too (the exclusion rests on it). Densest first within a cell."""
    rows = rows.copy()
    for column in ("domain", "task", "architecture", "subroutine", "variant", "regime"):
        if column not in rows:
            if column in ("task", "architecture", "subroutine", "regime"):
                raise ValueError(f"rows lack the column {column!r}: not run rows")
            rows[column] = "none" if column == "variant" else "?"
    if "weight_density" not in rows:
        raise ValueError("rows lack 'weight_density': they are not run_sparsity's rows")
    rows["variant"] = rows["variant"].fillna("none")
    excluded = as_bool(rows["excluded"]) if "excluded" in rows else pd.Series(False, rows.index)
    off = off_density(rows)
    excluded = excluded | off
    no_subnetwork = excluded & (
        rows["exclusion_reason"].eq(NO_SUBNETWORK)
        if "exclusion_reason" in rows
        else pd.Series(False, rows.index)
    )
    out = []
    for values, group in rows.groupby(KEYS, sort=False, dropna=False):
        kept = group[~excluded.loc[group.index]]
        record = dict(zip(KEYS, values, strict=True))
        scores = _seed_scores(kept)
        record.update(n=len(kept), n_seeds=len(scores), n_excluded=len(group) - len(kept))
        record["n_off_density"] = int(off.loc[group.index].sum())
        record["n_no_subnetwork"] = int(no_subnetwork.loc[group.index].sum())
        for measure in MEASURES:
            record[measure] = kept[measure].mean() if measure in kept and len(kept) else np.nan
        record["ablation_score_sd"] = scores.std() if len(scores) > 1 else np.nan
        record["ablation_p_below_0"] = _p_below_zero(
            scores.mean() if len(scores) else np.nan, record["ablation_score_sd"], len(scores)
        )
        acc = group["base_comp_test_acc"] if "base_comp_test_acc" in group else pd.Series()
        record["base_comp_test_acc_all"] = acc.mean() if len(acc) else np.nan
        out.append(record)
    table = pd.DataFrame(out)
    if table.empty:
        return table
    order = table.groupby(CELL_KEYS, sort=False, dropna=False).ngroup()
    return (
        table.assign(_order=order)
        .sort_values(["_order", "weight_density"], ascending=[True, False], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def as_table(rows_or_table: pd.DataFrame) -> pd.DataFrame:
    """``sparsity_table(rows)`` for run rows; a table (it has ``n``, no ``base_seed``) as is."""
    is_table = "n" in rows_or_table and "base_seed" not in rows_or_table
    return rows_or_table if is_table else sparsity_table(rows_or_table)


def is_modular(mean: float, p: float, n: int, margin: float = MARGIN, alpha: float = ALPHA):
    """The rule: mean ablation score below ``-margin`` and, with ``n >= MIN_SEEDS``, the
    one-sided t-test significant (with fewer runs the mean alone; the verdict is then
    "not decidable").

    >>> is_modular(-0.3, 0.01, 3), is_modular(-0.3, 0.2, 3), is_modular(-0.05, 0.0, 3)
    (True, False, False)
    """
    if math.isnan(mean) or not mean < -margin:
        return False
    return n < MIN_SEEDS or (not math.isnan(p) and p < alpha)


def cell_name(record) -> str:
    """``vision inside_contact/inside (resnet, scratch)``, the variant when there is one."""
    variant = record["variant"]
    extra = "" if variant in ("none", "", None) or pd.isna(variant) else f", {variant}"
    return (
        f"{record['domain']} {record['task']}/{record['subroutine']} "
        f"({record['architecture']}, {record['regime']}{extra})"
    )


@dataclass(frozen=True, eq=False)
class Verdict:
    """What the sparsity runs say, read off by the rule of this module.

    Attributes:
        reading: one of ``READINGS``.
        headline: the reading in a sentence (a figure's title).
        numbers: each trained cell, dense -> sparsest mean ablation score.
        control: the untrained sparse control in a sentence ("" without one).
        summary: the numbers and the control in one short line (a figure's title).
        text: headline, numbers and control together.
        cells: one row per trained cell: dense and sparsest means, n, p and whether
            modular at each, and whether amplified.
        control_near_zero: the control's mean ablation score within ``MARGIN`` of 0 at
            every density (None without control runs).
        control_modular: the control modular (the rule) at some density below 1.
    """

    reading: str
    headline: str
    numbers: str
    control: str
    summary: str
    cells: pd.DataFrame = field(repr=False)
    control_near_zero: bool | None = None
    control_modular: bool = False

    @property
    def text(self) -> str:
        return ". ".join(part for part in (self.headline, self.numbers, self.control) if part)


def _cell_summary(table: pd.DataFrame, margin: float, alpha: float) -> pd.DataFrame:
    """Per trained cell: its dense level and its sparsest level with included runs."""
    out = []
    for values, levels in table.groupby(CELL_KEYS, sort=False, dropna=False):
        levels = levels[levels["n"] > 0]
        record = dict(zip(CELL_KEYS, values, strict=True))
        dense = levels[np.isclose(levels["weight_density"], DENSE)]
        sparse = levels[levels["weight_density"] < DENSE]
        record["n_levels"] = len(levels)
        record["min_seeds"] = int(levels["n_seeds"].min()) if len(levels) else 0
        for name, level in (("dense", dense), ("sparsest", sparse.nsmallest(1, "weight_density"))):
            if len(level):
                lv = level.iloc[0]
                mean, p, n = lv["ablation_score"], lv["ablation_p_below_0"], int(lv["n_seeds"])
                record.update({f"{name}_density": lv["weight_density"], f"{name}_mean": mean,
                               f"{name}_n": n, f"{name}_p": p,
                               f"{name}_modular": is_modular(mean, p, n, margin, alpha)})  # fmt: skip
            else:
                record.update({f"{name}_density": np.nan, f"{name}_mean": np.nan,
                               f"{name}_n": 0, f"{name}_p": np.nan,
                               f"{name}_modular": False})  # fmt: skip
        record["amplified"] = bool(record["sparsest_mean"] < record["dense_mean"] - margin)
        out.append(record)
    return pd.DataFrame(out)


def _seeds(n: int) -> str:
    return f"{n} seed" + ("" if n == 1 else "s")


def _p_text(p: float) -> str:
    return "" if math.isnan(p) else f", p = {p:.2g}"


def _numbers(cells: pd.DataFrame) -> str:
    parts = []
    for _, c in cells.iterrows():
        sparse = (
            f"{c['sparsest_mean']:+.2f} at density {c['sparsest_density']:g} "
            f"({_seeds(c['sparsest_n'])}{_p_text(c['sparsest_p'])})"
            if c["sparsest_n"]
            else "no sparse level with included runs"
        )
        dense = (
            f"dense {c['dense_mean']:+.2f} ({_seeds(c['dense_n'])}{_p_text(c['dense_p'])})"
            if c["dense_n"]
            else "no dense runs included"
        )
        parts.append(f"{cell_name(c)}: {dense} -> {sparse}")
    return "Mean ablation scores: " + "; ".join(parts) if parts else "No trained runs"


def _no_subnetwork(trained: pd.DataFrame) -> str:
    """Where the mask search found no subnetwork reaching the selection threshold (those runs
    are excluded: at that density a subroutine could not be isolated), or ""."""
    if "n_no_subnetwork" not in trained:
        return ""
    runs = trained.assign(_all=trained["n"] + trained["n_excluded"])
    levels = runs.groupby("weight_density")[["n_no_subnetwork", "_all"]].sum()
    levels = levels[levels["n_no_subnetwork"] > 0].sort_index(ascending=False)
    parts = [
        f"{int(r['n_no_subnetwork'])} of {int(r['_all'])} at density {d:g}"
        for d, r in levels.iterrows()
    ]
    return (
        "No subnetwork reached the selection threshold (runs excluded) in " + "; ".join(parts)
        if parts
        else ""
    )


def _undecidable(cells: pd.DataFrame, table: pd.DataFrame) -> str | None:
    """Why the rows cannot decide (with the counts), or None."""
    if cells.empty:
        return "no trained runs"
    trained = table[table["regime"].isin(TRAINED_REGIMES)]
    levels = sorted(trained.loc[trained["n"] > 0, "weight_density"].unique(), reverse=True)
    low = trained[(trained["n"] > 0) & (trained["n_seeds"] < MIN_SEEDS)]
    if len(low):
        return (
            f"fewer than {MIN_SEEDS} included base seeds in {len(low)} of "
            f"{int((trained['n'] > 0).sum())} (cell, density) groups (as few as "
            f"{int(low['n_seeds'].min())})"
        )
    missing = cells[(cells["dense_n"] == 0) | (cells["sparsest_n"] == 0)]
    if len(missing) or len(levels) < 2:
        shown = ", ".join(f"{d:g}" for d in levels) or "none"
        return (
            f"fewer than 2 densities with included runs (dense among them) in "
            f"{max(len(missing), 1)} cell(s); densities with included runs: {shown}"
        )
    return None


def _control(table: pd.DataFrame, margin: float, alpha: float) -> tuple[str, bool | None, bool]:
    """The untrained sparse control in words, near 0 at every density?, modular below 1?"""
    control = table[(table["regime"] == "untrained") & (table["n"] > 0)]
    if control.empty:
        return "", None, False
    near = bool((control["ablation_score"].abs() < margin).all())
    modular = [
        r for _, r in control.iterrows()
        if r["weight_density"] < DENSE
        and is_modular(r["ablation_score"], r["ablation_p_below_0"], int(r["n_seeds"]), margin,
                       alpha)
    ]  # fmt: skip
    parts = []
    for _, levels in control.groupby(CELL_KEYS, sort=False, dropna=False):
        means = ", ".join(
            f"{r['ablation_score']:+.2f} at {r['weight_density']:g}"
            for _, r in levels.sort_values("weight_density", ascending=False).iterrows()
        )
        parts.append(f"{cell_name(levels.iloc[0])} {means}")
    text = f"Untrained sparse control, mean ablation score by density: {'; '.join(parts)}; " + (
        f"near 0 (|mean| < {margin:g}) at every density"
        if near
        else f"not near 0 (|mean| >= {margin:g}) at some density"
    )
    if modular:
        where = ", ".join(sorted({f"{r['weight_density']:g}" for r in modular}))
        text += (
            f"; the control is modular too (density {where}): sparsity itself, not learning, "
            "produces the effect"
        )
    return text, near, bool(modular)


def _summary(cells: pd.DataFrame, near: bool | None, control_modular: bool) -> str:
    """Mean ablation score, dense -> sparsest, per trained cell; the control in a few words."""
    parts = [
        f"{c['domain']} {c['subroutine']} {c['dense_mean']:+.2f} -> "
        + (
            f"{c['sparsest_mean']:+.2f} at {c['sparsest_density']:g}"
            if c["sparsest_n"] and not pd.isna(c["sparsest_mean"])
            else "no sparse run included yet"
        )
        for _, c in cells.iterrows()
    ]
    text = f"mean ablation score, dense -> sparsest: {'; '.join(parts)}" if parts else ""
    if near is not None:
        control = "near 0 at every density" if near else "not near 0 at some density"
        if control_modular:
            control += ", modular too: sparsity itself, not learning, produces the effect"
        text += ("; " if text else "") + f"untrained sparse control {control}"
    return text[:1].upper() + text[1:]


HEADLINES = {
    "amplify": "Sparsity amplifies: cells modular when dense become more so, the others "
    "stay not modular",
    "enforce": "Sparsity enforces: every cell is modular at the sparsest density, also "
    "those not modular when dense",
    "neither": "Sparsity neither amplifies nor enforces modularity",
}


def verdict(rows: pd.DataFrame, margin: float = MARGIN, alpha: float = ALPHA) -> Verdict:
    """The reading of sparsity runs (or of their ``sparsity_table``) by the module's rule.

    ``margin`` and ``alpha`` are the rule's (``MARGIN``, ``ALPHA``); they are parameters
    for the tests, not for tuning on results.
    """
    table = as_table(rows)
    trained = table[table["regime"].isin(TRAINED_REGIMES)] if len(table) else table
    cells = _cell_summary(trained, margin, alpha) if len(trained) else pd.DataFrame()
    control, near, control_modular = (
        _control(table, margin, alpha) if len(table) else ("", None, False)
    )
    why = _undecidable(cells, trained) if len(trained) else "no trained runs"
    numbers = _numbers(cells) if len(cells) else "No trained runs"
    unfound = _no_subnetwork(trained) if len(trained) else ""
    numbers = ". ".join(part for part in (numbers, unfound) if part)
    if why is not None:
        reading = READINGS[3]
        headline = f"Not decidable at this scale: {why}"
    else:
        dense_mod = cells[cells["dense_modular"]]
        not_mod = cells[~cells["dense_modular"]]
        if len(not_mod) and cells["sparsest_modular"].all():
            reading = "enforce"
        elif (
            len(dense_mod)
            and dense_mod["amplified"].all()
            and not not_mod["sparsest_modular"].any()
        ):
            reading = "amplify"
        else:
            reading = "neither"
        n_mod = f"{len(dense_mod)} of {len(cells)} trained cells modular when dense"
        headline = f"{HEADLINES[reading]} ({n_mod})"
    summary = _summary(cells, near, control_modular)
    return Verdict(reading, headline, numbers, control, summary, cells, near, control_modular)


def trends(table: pd.DataFrame, overlap: pd.DataFrame | None = None) -> list[str]:
    """One sentence per trained cell, dense -> sparsest level with included runs: its mean
    ablation score beside the size-matched random ablation, and the kept fraction; then, per
    domain with mask overlaps (``overlap_by_density``), IoU over chance dense -> sparsest.
    Computed from the tables, for a notebook to print under its verdict."""
    out = []
    trained = table[table["regime"].isin(TRAINED_REGIMES) & (table["n"] > 0)]
    for _, levels in trained.groupby(CELL_KEYS, sort=False, dropna=False):
        levels = levels.sort_values("weight_density", ascending=False)
        dense, sparse = levels.iloc[0], levels.iloc[-1]
        if len(levels) < 2:
            continue
        out.append(
            f"{cell_name(dense)}: ablation score {dense['ablation_score']:+.2f} -> "
            f"{sparse['ablation_score']:+.2f} (density {dense['weight_density']:g} -> "
            f"{sparse['weight_density']:g}), size-matched random ablation "
            f"{dense['sampled_ablation_score']:+.2f} -> {sparse['sampled_ablation_score']:+.2f}, "
            f"masks keeping {100 * dense['kept_fraction']:.1f}% -> "
            f"{100 * sparse['kept_fraction']:.1f}% of the nonzero weights"
        )
    if overlap is not None and len(overlap):
        for (domain, task), levels in overlap.groupby(["domain", "task"], sort=False):
            levels = levels.sort_values("weight_density", ascending=False)
            dense, sparse = levels.iloc[0], levels.iloc[-1]
            out.append(
                f"{domain} {task}: the subroutines' masks overlap IoU {dense['iou']:.2f} -> "
                f"{sparse['iou']:.2f}, {dense['iou_over_random']:.1f}x -> "
                f"{sparse['iou_over_random']:.1f}x what random masks of their sizes share "
                f"(density {dense['weight_density']:g} -> {sparse['weight_density']:g})"
            )
    return out
