"""Figure 03, pretrained vs random initialisation and the untrained control, drawn.

Used by ``notebooks/03_pretrained_vs_random.ipynb``; draws a
:func:`sclib.plots.pretraining.cell_table`. Per domain of ours, three panels: the
subnetwork and ablation scores of each cell per regime (ours beside the paper's matched
cells, a line per cell), then the reliability: the fraction of cells whose ablation score
is significantly below 0.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from sclib.plots.pretraining import PAPER_ALL, PAPER_SAME, join_names, regime_table
from sclib.plots.style import (
    HOLLOW_DIAMOND,
    RANDOM_ABLATION,
    SCORES,
    domain_order,
    has_variant,
    legend_below,
    series_color,
    source_size,
)
from sclib.stats.vocabulary import PAPER_LABEL, REGIMES, TASK_LABELS, architecture_label

LINE_KEYS = ["source", "task", "subroutine", "variant", "architecture"]  # a line in the figure
BAR_STYLES = {"ours": "tab:blue", PAPER_SAME: "0.5", PAPER_ALL: "0.8"}
MEAN_ENTRY = (
    "mean over cells (ours black, paper grey)",
    {"kind": "line", "color": "black", "linewidth": 2.5},
)
UNTESTABLE_ENTRY = (
    "untestable (u.): fewer than 2 base models, no clustered test",
    {"kind": "patch", "facecolor": "none", "edgecolor": "black", "hatch": "///"},
)


def _bar_color(group: str) -> str:
    return BAR_STYLES.get(group, BAR_STYLES["ours"])


def _cell_name(task: str, subroutine: str, variant: Any) -> str:
    label = f"{TASK_LABELS.get(task, task)} {subroutine.capitalize()}"
    return f"{label} ({variant})" if has_variant(variant) else label


def _tick(regime: str, here: pd.DataFrame) -> str:
    lines = [regime]
    for who in ("ours", "paper"):
        at = here[(here["regime"] == regime) & here["source"].eq("paper").eq(who == "paper")]
        if len(at) == 0 or (at["n_runs"] == 0).all():
            lines.append(f"{who}: {'all excluded' if len(at) else 'not run'}")
        elif regime == "pretrained":
            lines.append(f"{who}: {join_names(at['pretraining_name'])}")
    return "\n".join(lines)


def _cell_lines(ax, part: pd.DataFrame, x_of: dict, offset: float, score: str, colors: dict):
    """One line per cell across regimes; ours (``colors``) also its random ablation, hollow."""
    is_paper = colors is None
    groups = list(part.groupby(LINE_KEYS, sort=False))
    for k, (key, cell) in enumerate(groups):
        cell = cell[cell["regime"].isin(list(x_of))]
        cell = cell.sort_values("regime", key=lambda c: c.map(x_of))
        spread = 0.16 * ((k + 0.5) / len(groups) - 0.5)
        xs = cell["regime"].map(x_of).to_numpy(float) + offset + spread
        color = "0.6" if is_paper else colors[key]
        ax.plot(
            xs,
            cell[score],
            color=color,
            marker="s" if key[-1] == "wide_resnet" else "o",
            markersize=4.5,
            linewidth=1,
            alpha=0.8,
            markeredgecolor="none" if is_paper else "black",
            markeredgewidth=0.5,
            zorder=2 if is_paper else 3,
        )
        if score == "ablation_score" and not is_paper:
            ax.scatter(
                xs + 0.04,
                cell["sampled_ablation_score"],
                s=28,
                marker="D",
                facecolors="none",
                edgecolors=color,
                linewidths=1.1,
                zorder=4,
            )


def _score_panel(ax, cells: pd.DataFrame, regimes: list[str], score: str, colors: dict) -> None:
    """Cell means joined across regimes; ours left of each regime, the paper's right."""
    x_of = {r: i for i, r in enumerate(regimes)}
    for offset, is_paper in ((-0.17, False), (0.17, True)):
        part = cells[cells["source"].eq("paper") == is_paper]
        _cell_lines(ax, part, x_of, offset, score, None if is_paper else colors)
        for regime, at in part.groupby("regime"):
            if regime in x_of and at[score].notna().any():
                x = x_of[regime] + offset
                color = "0.35" if is_paper else "black"
                ax.hlines(
                    at[score].mean(), x - 0.13, x + 0.13, color=color, linewidth=2.5, zorder=5
                )
    ax.axhline(0, color="black", linewidth=0.8, zorder=1)
    if score == "subnetwork_score":
        ax.axhline(0.75, color="0.6", linestyle=":", linewidth=0.8, zorder=1)  # the ideal
    ax.set_xlim(-0.5, len(regimes) - 0.5)
    ax.set_ylim(-0.8, 0.8)
    ax.grid(axis="y", alpha=0.3)


def _bar(ax, x: float, width: float, row: pd.Series, color: str) -> None:
    """A bar of the fraction significant, the untestable share hatched on top, and counts."""
    untestable = row["n_untestable"] / row["n_cells"]
    ax.bar(x, row["fraction"], width, color=color, edgecolor="black", linewidth=0.5)
    ax.bar(
        x,
        untestable,
        width,
        bottom=row["fraction"],
        facecolor="none",
        edgecolor=color,
        hatch="///",
        linewidth=0.5,
    )
    text = f"{int(row['n_significant'])}/{int(row['n_cells'])}"
    if row["n_untestable"]:
        text += f"\n({int(row['n_untestable'])} u.)"
    y = row["fraction"] + untestable + 0.02
    ax.text(x, y, text, ha="center", va="bottom", fontsize=6.5)


def _reliability_panel(ax, table: pd.DataFrame, regimes: list[str], groups: list[str]) -> None:
    """Per regime a bar per group: fraction significant, hatched on top: fraction untestable."""
    width = 0.8 / len(groups)
    for i, regime in enumerate(regimes):
        for k, group in enumerate(groups):
            x = i - 0.4 + (k + 0.5) * width
            at = table[(table["regime"] == regime) & (table["group"] == group)]
            if len(at) == 0:
                ax.text(x, 0.02, "no runs", rotation=90, ha="center", va="bottom", fontsize=7)
            else:
                _bar(ax, x, width * 0.9, at.iloc[0], _bar_color(group))
    ax.set_xticks(range(len(regimes)), regimes, fontsize=8)
    ax.set_xlim(-0.5, len(regimes) - 0.5)
    ax.set_ylim(0, 1.25)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.grid(axis="y", alpha=0.3)


def _groups(cells: pd.DataFrame) -> list[str]:
    """The groups of the reliability panel: each of our sources, then the paper's two."""
    return [*sorted(set(cells.loc[cells["source"] != "paper", "source"])), PAPER_SAME, PAPER_ALL]


def _draw_domain(axes, cells: pd.DataFrame, domain: str, colors: dict, alpha: float) -> None:
    """One row of panels: the two scores per regime, then the reliability."""
    here = cells[cells["domain"] == domain]
    drawn = here[here["matched"] & (here["n_runs"] > 0)]
    regimes = [r for r in REGIMES if r in set(here.loc[here["n_runs"] > 0, "regime"])]
    for col, score in enumerate(SCORES):
        _score_panel(axes[col], drawn, regimes, score, colors)
        axes[col].set_xticks(range(len(regimes)), [_tick(r, here) for r in regimes], fontsize=7.5)
        axes[col].set_title(f"{domain}: {SCORES[score]}", fontsize=9)
    axes[0].set_ylabel("score (mean per cell)")
    table = regime_table(here)
    _reliability_panel(axes[2], table, regimes, _groups(cells))
    axes[2].set_title(
        f"{domain}: cells with ablation score < 0 (two-sided p < {alpha}; ours t(G-1))", fontsize=9
    )
    axes[2].set_ylabel("fraction of cells")


def _legend_entries(cells: pd.DataFrame, colors: dict) -> list[tuple[str, dict[str, Any]]]:
    """Our cells' lines, the paper's architectures, the markers and the bars."""
    entries = [
        (
            f"{key[0]}: {_cell_name(*key[1:4])}, {architecture_label(key[4], source_size(key[0]))}",
            {"kind": "line", "color": c, "marker": "o", "markeredgecolor": "black"},
        )
        for key, c in colors.items()
    ]
    drawn = cells[cells["matched"] & (cells["n_runs"] > 0) & (cells["source"] == "paper")]
    for arch in sorted(set(drawn["architecture"])):
        marker = "s" if arch == "wide_resnet" else "o"
        label = f"{PAPER_LABEL}: {architecture_label(arch)}"
        entries.append((label, {"kind": "line", "color": "0.6", "marker": marker}))
    entries = [(label, {**style, "markersize": 5}) for label, style in entries]
    entries += [(f"{RANDOM_ABLATION} (cell mean)", HOLLOW_DIAMOND), MEAN_ENTRY]
    for group in _groups(cells):
        entries.append(
            (group, {"kind": "patch", "facecolor": _bar_color(group), "edgecolor": "black"})
        )
    return [*entries, UNTESTABLE_ENTRY]


def _suptitle(own: pd.DataFrame) -> str:
    counts = [
        f"{source}: {int(part['n_runs'].sum())} runs in {int((part['n_runs'] > 0).sum())} cells "
        f"drawn, {int(part['n_excluded'].sum())} excluded"
        for source, part in own.groupby("source", sort=False)
    ]
    return (
        f"Pretrained vs random initialisation and the untrained control. {'; '.join(counts)}.\n"
        f"Lines join the same task x subroutine (x architecture) across regimes; grey: "
        f"{PAPER_LABEL}, same tasks and subroutines, their architectures. Significance: "
        "GLM, errors clustered by base model, two-sided; ours t(G-1) (G base models), the "
        "paper's cells its own z test."
    )


def pretrained_vs_random_figure(cells: pd.DataFrame, alpha: float = 0.05) -> Figure:
    """Subnetwork and ablation scores per regime, paired by cell, and the reliability.

    One row per domain of ours. Left two panels: per regime (scratch, pretrained, untrained)
    the cell means of ours (coloured, left) and of the paper's matched cells (grey, right),
    a line joining each task x subroutine (x architecture) across regimes, a thick bar at
    the mean over cells, and ours' size-matched random ablation as hollow diamonds. Right
    panel: the fraction of cells whose ablation score is significantly below 0 (two-sided
    p < ``alpha`` and a negative mean; ours t with G - 1 df, the paper's cells its z), for ours,
    the paper's matched cells and all the paper's cells; hatched: the untestable share.

    Args:
        cells: ``cell_table(ours, paper, alpha)``.
        alpha: the significance level used there (for the title only).
    """
    own = cells[cells["source"] != "paper"]
    domains = domain_order(own["domain"])
    keys = own[LINE_KEYS].drop_duplicates().itertuples(index=False, name=None)
    colors = {key: series_color(i) for i, key in enumerate(keys)}
    fig, axes = plt.subplots(
        len(domains),
        3,
        figsize=(15, 3.9 * len(domains) + 1.6),
        squeeze=False,
        gridspec_kw={"width_ratios": [1.25, 1.25, 1]},
    )
    for row, domain in enumerate(domains):
        _draw_domain(axes[row], cells, domain, colors, alpha)
    legend_below(fig, _legend_entries(cells, colors))
    fig.suptitle(_suptitle(own), fontsize=9)
    fig.tight_layout()
    return fig
