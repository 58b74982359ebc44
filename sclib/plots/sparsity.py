"""The sparsity figure: does weight sparsity amplify decomposition? (issue #16)

Used by ``notebooks/07_sparsity.ipynb``. Takes ``sclib.experiments.sparsity.run_sparsity``
rows (or their ``sclib.stats.sparsity.sparsity_table``) and draws, per domain, four panels
against the base model's weight density (log scale, dense at the right): (a) the ablation
score, (b) the subnetwork score, (c) the kept fraction of the masked region's nonzero
weights, (d) the base models' compositional test accuracy (an accuracy-matched check: a
sparse model that did not learn the task is excluded, not compared). The title is the
verdict of ``sclib.stats.sparsity_verdict.verdict``, computed from the data drawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sclib.plots.style import (
    HOLLOW_DIAMOND,
    MARKERS,
    MAX_WIDTH_IN,
    PAPER_COLOR,
    domain_order,
    exclusion_counts,
    figure_title,
    legend_below,
    panel_letters,
    panel_title,
    regime_color,
    subroutine_colors,
    themed,
)
from sclib.stats.sparsity import as_table
from sclib.stats.sparsity_verdict import verdict
from sclib.stats.vocabulary import (
    CHANCE,
    PAPER_LABEL,
    TASK_LABELS,
    TRAINED_REGIMES,
    architecture_label,
)

SERIES = ["task", "architecture", "variant", "subroutine", "regime"]
BASE_SERIES = ["task", "architecture", "variant", "regime"]  # both subroutines share a base model
# column -> (panel title, y label)
PANELS = {
    "ablation_score": ("ablation score", "expected < 0"),
    "subnetwork_score": ("subnetwork score", "expected > 0"),
    "kept_fraction": ("kept fraction", "% of the masked region's\nnonzero weights"),
    "base_comp_test_acc_all": ("base accuracy", "compositional test accuracy\nof the base models"),
}
CONTROL_STYLE = "--"  # the untrained sparse control


def _x(rows: pd.DataFrame) -> np.ndarray:
    """The measured base weight density, the target where it was not measured."""
    measured = rows["base_weight_density"] if "base_weight_density" in rows else np.nan
    return pd.Series(measured, index=rows.index).fillna(rows["weight_density"]).to_numpy(float)


def _style(regime: str) -> str:
    return CONTROL_STYLE if regime == "untrained" else "-"


def _score_panel(ax, table: pd.DataFrame, column: str, colors: dict, markers: dict) -> None:
    for key, rows in table.groupby(SERIES, sort=False, dropna=False):
        rows = rows.sort_values("weight_density")
        task, arch, variant, sub, regime = key
        y = rows[column].to_numpy(float) * (100 if column == "kept_fraction" else 1)
        ax.plot(_x(rows), y, _style(regime), marker=markers[(task, arch, variant)],
                color=colors[sub], mfc="white" if regime == "untrained" else colors[sub])  # fmt: skip
        if column == "ablation_score" and regime in TRAINED_REGIMES:
            ax.plot(_x(rows), rows["sampled_ablation_score"], linestyle="", **HOLLOW_DIAMOND)


def _accuracy_panel(ax, table: pd.DataFrame, markers: dict, threshold: float | None) -> None:
    for key, rows in table.groupby(BASE_SERIES, sort=False, dropna=False):
        rows = rows.drop_duplicates("weight_density").sort_values("weight_density")
        task, arch, variant, regime = key
        ax.plot(_x(rows), rows["base_comp_test_acc_all"], _style(regime),
                marker=markers[(task, arch, variant)], color=regime_color(regime))  # fmt: skip
    ax.axhline(CHANCE, color="0.6", lw=0.8)
    if threshold is not None:
        ax.axhline(threshold, color="black", lw=1.0, linestyle=":")
    ax.set_ylim(0, 1.05)


def _paper_points(ax, paper: pd.DataFrame, table: pd.DataFrame, column: str) -> bool:
    """The paper's dense scratch runs of the same task, subroutine and variant: grey crosses
    at density 1. Whether any was drawn."""
    drawn = False
    scratch = paper[paper["regime"] == "scratch"]
    for (task, sub, variant), _ in table.groupby(["task", "subroutine", "variant"], sort=False):
        same = scratch[(scratch["task"] == task) & (scratch["subroutine"] == sub)]
        same = same[same["variant"].fillna("none") == variant]
        if len(same) and column in same:
            ax.plot([1.0], [same[column].mean()], "X", color=PAPER_COLOR, ms=8)
            drawn = True
    return drawn


def _density_axis(ax, densities: np.ndarray) -> None:
    ax.set_xscale("log")
    ticks = sorted(set(np.round(densities, 3)))
    ax.set_xticks(ticks, [f"{d:g}" for d in ticks])
    ax.minorticks_off()
    ax.set_xlim(min(ticks) / 1.35, 1.35)
    ax.set_xlabel("base weight density (1 = dense)")


def _thresholds(exclusion_threshold: float | Mapping[str, float] | None, domain: str):
    if isinstance(exclusion_threshold, Mapping):
        return exclusion_threshold.get(domain)
    return exclusion_threshold


@themed
def sparsity_figure(
    table_or_rows: pd.DataFrame,
    paper_free: bool = True,
    paper: pd.DataFrame | None = None,
    exclusion_threshold: float | Mapping[str, float] | None = 0.9,
) -> Figure:
    """Ablation score, subnetwork score, kept fraction and base accuracy against the base
    model's weight density, a row of four panels per domain.

    Args:
        table_or_rows: ``run_sparsity`` rows, or their ``sparsity_table``.
        paper_free: True (the default): ours only; the paper trained dense models only and
            ran nothing sparse. False: also the paper's dense scratch runs of the same task,
            subroutine and variant (``paper``, ``sclib.stats.reference.paper_runs()``), as
            grey crosses at density 1 in the score panels: its only reference point.
        paper: the paper's runs; required when ``paper_free`` is False.
        exclusion_threshold: the profile's exclusion threshold (a line in panel d), one
            for all domains or one per domain; None draws none.

    One line per trained cell (a subroutine's colour, ``sclib.plots.style.COLORS``), its
    untrained sparse control dashed with hollow markers, the size-matched random ablation
    as hollow black diamonds, a grey line at 0 (scores) or at chance (accuracy).
    """
    if not paper_free and paper is None:
        raise ValueError("paper_free=False draws the paper's dense runs: pass paper=paper_runs()")
    table = as_table(table_or_rows)
    if table.empty:
        raise ValueError("nothing to draw: no sparsity runs")
    is_rows = table is not table_or_rows
    domains = domain_order(table["domain"])
    fig, axes = plt.subplots(
        len(domains), 4, figsize=(MAX_WIDTH_IN, 2.9 * len(domains) + 2.2), squeeze=False
    )
    letters = iter(panel_letters(axes.size))
    colors_all: dict[str, Any] = {}
    regimes: list[str] = []
    paper_drawn = False
    tasks: dict[str, str] = {}
    for row_axes, domain in zip(axes, domains, strict=True):
        part = table[table["domain"] == domain]
        colors = subroutine_colors(part["subroutine"])
        colors_all.update({s: c for s, c in colors.items() if s not in colors_all})
        groups = list(
            dict.fromkeys(part[["task", "architecture", "variant"]].itertuples(False, None))
        )
        markers = {g: MARKERS[i % len(MARKERS)] for i, g in enumerate(groups)}
        regimes += [r for r in part["regime"].unique() if r not in regimes]
        tasks[domain] = ", ".join(
            f"{TASK_LABELS.get(t, t)} ({architecture_label(a, 'quick')})"
            for t, a in dict.fromkeys(part[["task", "architecture"]].itertuples(False, None))
        )
        for ax, column in zip(row_axes, PANELS, strict=True):
            if column == "base_comp_test_acc_all":
                _accuracy_panel(ax, part, markers, _thresholds(exclusion_threshold, domain))
            else:
                _score_panel(ax, part, column, colors, markers)
                if column != "kept_fraction":
                    ax.axhline(0, color="0.6", lw=0.8)
                    ax.set_ylim(-0.8, 0.8)
                    if not paper_free:
                        paper_drawn |= _paper_points(ax, paper, part, column)
                else:
                    ax.set_yscale("symlog", linthresh=0.1)
                    ax.set_ylim(0, 150)
            _density_axis(ax, part["weight_density"].to_numpy(float))
            ax.set_ylabel(PANELS[column][1])
            panel_title(ax, next(letters), f"{domain}: {PANELS[column][0]}")
    by_color: dict[Any, list[str]] = {}
    for sub, color in colors_all.items():  # a task's first (second) subroutine, every domain
        by_color.setdefault(color, []).append(sub)
    entries: list[tuple[str, dict]] = [
        (f"{' / '.join(subs)}: trained cell", {"kind": "line", "color": c, "marker": "o"})
        for c, subs in by_color.items()
    ]
    entries += [
        ("untrained sparse control (dashed)", {"kind": "line", "color": "0.3",
                                               "linestyle": CONTROL_STYLE, "marker": "o",
                                               "mfc": "white"}),
        ("size-matched random ablation (trained cells)", HOLLOW_DIAMOND),
    ]  # fmt: skip
    entries += [
        (f"base model, {r} (accuracy panels)", {"kind": "line", "color": regime_color(r),
                                            "linestyle": _style(r)})
        for r in regimes
    ]  # fmt: skip
    if exclusion_threshold is not None:
        entries.append(("exclusion threshold", {"kind": "line", "color": "black",
                                                "linestyle": ":"}))  # fmt: skip
    if paper_drawn:
        entries.append((f"{PAPER_LABEL}, dense, scratch", {"marker": "X", "color": PAPER_COLOR}))
    legend_below(fig, entries)
    found = verdict(table)
    if is_rows:
        counts = exclusion_counts(table_or_rows)
    else:
        excluded = table["n_excluded"].astype(bool)
        counts = f"{int(table['n'].sum())} runs drawn, {int(table['n_excluded'].sum())} excluded"
        counts += f" (in {int(excluded.sum())} groups)" if excluded.any() else ""
    paper_line = (
        "The paper trained dense models only: no run of its is drawn."
        if paper_free
        else "Grey crosses: the paper's dense scratch runs (its only reference, at density 1)."
    )
    cells = "; ".join(f"{d}: {t}" for d, t in tasks.items())
    figure_title(fig, found.headline, found.summary, f"{cells}. {counts}. {paper_line}")
    fig.tight_layout()
    return fig
