"""Does weight sparsity amplify decomposition? The verdict in words, and the trends (issue #16).

Used by ``notebooks/07_sparsity.ipynb`` and ``sclib.plots.sparsity`` (the figure's title).
Reads sparsity runs, or their ``sclib.stats.sparsity.sparsity_table``, by the rule fixed in
the docstring of ``sclib.stats.sparsity`` (``MARGIN``, ``ALPHA``, ``MIN_SEEDS``,
``is_modular``) and says what it finds: ``verdict``, a ``Verdict`` (one of ``READINGS``,
its headline, the numbers it rests on and the untrained sparse control); ``trends``, one
sentence per trained cell from dense to its sparsest level, for a notebook to print under
the verdict.

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

from sclib.stats.sparsity import (
    ALPHA,
    CELL_KEYS,
    DENSE,
    MARGIN,
    MIN_SEEDS,
    READINGS,
    as_table,
    is_modular,
)
from sclib.stats.vocabulary import TRAINED_REGIMES


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
    """What the sparsity runs say, read off by the rule of ``sclib.stats.sparsity``.

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
    """The reading of sparsity runs (or of their ``sparsity_table``) by the rule of
    ``sclib.stats.sparsity``.

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
