"""Figure 03, pretrained vs random initialisation and the untrained control, drawn.

Used by ``notebooks/03_pretrained_vs_random.ipynb``; draws a
:func:`sclib.plots.pretraining.cell_table`. Per domain of ours, three panels: the
subnetwork and ablation scores of each cell per regime (ours beside the paper's matched
cells, a line per cell), then the reliability: the fraction of cells whose ablation score
is significantly below 0. Colours are regimes (``sclib.plots.style.COLORS``), grey the
paper; a regime whose cells are all untestable gets no bar, only a label saying so.
"""

from __future__ import annotations

import textwrap
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from sclib.plots.findings import combine_findings, regime_finding, reliability_finding
from sclib.plots.pretraining import PAPER_ALL, PAPER_SAME, join_names, regime_table
from sclib.plots.style import (
    COLORS,
    HOLLOW_DIAMOND,
    MARKERS,
    MAX_WIDTH_IN,
    RANDOM_ABLATION,
    SCORE_NAMES,
    SCORES,
    domain_order,
    figure_title,
    has_variant,
    legend_below,
    panel_letters,
    panel_title,
    regime_color,
    source_size,
    themed,
)
from sclib.stats.vocabulary import PAPER_LABEL, REGIMES, TASK_LABELS, architecture_label

LINE_KEYS = ["source", "task", "subroutine", "variant", "architecture"]  # a line in the figure
LINE_STYLES = ("-", "--", ":", "-.")  # our cells' lines, in turn (the marker too: MARKERS)
PAPER_BARS = {PAPER_SAME: COLORS["paper"], PAPER_ALL: COLORS["paper_all"]}
MEAN_ENTRY = (
    "mean over cells (ours black, paper grey)",
    {"kind": "line", "color": "black", "linewidth": 2.5},
)


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


def _cell_lines(ax, part: pd.DataFrame, x_of: dict, offset: float, score: str, styles: dict):
    """One line per cell across regimes, its points in their regime's colour; ours (``styles``:
    cell -> marker and line style) also its random ablation, hollow black diamonds."""
    is_paper = styles is None
    groups = list(part.groupby(LINE_KEYS, sort=False))
    for k, (key, cell) in enumerate(groups):
        cell = cell[cell["regime"].isin(list(x_of))]
        cell = cell.sort_values("regime", key=lambda c: c.map(x_of))
        spread = 0.16 * ((k + 0.5) / len(groups) - 0.5)
        xs = cell["regime"].map(x_of).to_numpy(float) + offset + spread
        if is_paper:
            marker, line, points = ("s" if key[-1] == "wide_resnet" else "o"), "-", COLORS["paper"]
        else:
            marker, line = styles[key]["marker"], styles[key]["linestyle"]
            points = [regime_color(r) for r in cell["regime"]]
        color = COLORS["paper"] if is_paper else "black"
        ax.plot(xs, cell[score], color=color, linestyle=line, linewidth=1, alpha=0.6, zorder=2)
        ax.scatter(
            xs, cell[score], c=points, marker=marker, s=30, zorder=2 if is_paper else 3,
            edgecolors="none" if is_paper else "black", linewidths=0.6,
        )  # fmt: skip
        if score == "ablation_score" and not is_paper:
            ax.scatter(
                xs + 0.04, cell["sampled_ablation_score"], s=28, marker="D", facecolors="none",
                edgecolors=COLORS["random"], linewidths=1.1, zorder=4,
            )  # fmt: skip


def _score_panel(ax, cells: pd.DataFrame, regimes: list[str], score: str, styles: dict) -> None:
    """Cell means joined across regimes; ours left of each regime, the paper's right."""
    x_of = {r: i for i, r in enumerate(regimes)}
    for offset, is_paper in ((-0.17, False), (0.17, True)):
        part = cells[cells["source"].eq("paper") == is_paper]
        _cell_lines(ax, part, x_of, offset, score, None if is_paper else styles)
        for regime, at in part.groupby("regime"):
            if regime in x_of and at[score].notna().any():
                x = x_of[regime] + offset
                color = COLORS["paper"] if is_paper else "black"
                ax.hlines(
                    at[score].mean(), x - 0.13, x + 0.13, color=color, linewidth=2.5, zorder=5
                )
    ax.axhline(0, color="black", linewidth=0.8, zorder=1)
    if score == "subnetwork_score":
        ax.axhline(0.75, color="0.6", linestyle=":", linewidth=0.8, zorder=1)  # the ideal
    ax.set_xlim(-0.5, len(regimes) - 0.5)
    ax.set_ylim(-0.8, 0.8)
    ax.set_ylabel(SCORES[score])
    ax.grid(axis="x", visible=False)


def _bar(ax, x: float, width: float, row: pd.Series, style: dict) -> None:
    """The fraction of cells significantly below 0, labelled *significant / cells*.

    Untestable cells (one base model: no clustered test) count as not significant, as in
    ``regime_table``; where every cell is untestable there is nothing to draw, so no bar is,
    only a label saying so (a bar of height 0 would read as "tested: none significant").
    """
    n, untestable = int(row["n_cells"]), int(row["n_untestable"])
    label = {"rotation": 90, "ha": "center", "va": "bottom", "fontsize": 8}
    if untestable == n:
        ax.text(x, 0.02, f"untestable ({n} cell{'s' * (n > 1)})", color="0.3", **label)
        return
    ax.bar(x, row["fraction"], width, edgecolor="black", linewidth=0.5, **style)
    text = f"{int(row['n_significant'])}/{n}" + (f", {untestable} untestable" if untestable else "")
    ax.text(x, row["fraction"] + 0.02, text, **label)


def _bar_style(group: str, ours: list[str], regime: str) -> dict[str, Any]:
    """Ours: the regime's colour (a second source of ours hatched); the paper's: greys."""
    if group in PAPER_BARS:
        return {"color": PAPER_BARS[group]}
    return {"color": regime_color(regime), "hatch": "//" if ours.index(group) else None}


def _reliability_panel(ax, table: pd.DataFrame, regimes: list[str], groups: list[str]) -> None:
    """Per regime a bar per group: the fraction significant; untestable groups: a label."""
    width = 0.8 / len(groups)
    ours = [g for g in groups if g not in PAPER_BARS]
    for i, regime in enumerate(regimes):
        for k, group in enumerate(groups):
            x = i - 0.4 + (k + 0.5) * width
            at = table[(table["regime"] == regime) & (table["group"] == group)]
            if len(at) == 0:
                ax.text(x, 0.02, "no runs", rotation=90, ha="center", va="bottom", fontsize=8)
            else:
                _bar(ax, x, width * 0.9, at.iloc[0], _bar_style(group, ours, regime))
    ax.set_xticks(range(len(regimes)), regimes)
    ax.set_xlim(-0.5, len(regimes) - 0.5)
    ax.set_ylim(0, 1.5)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_ylabel("fraction of cells with ablation score significantly < 0")
    ax.grid(axis="x", visible=False)


def _groups(cells: pd.DataFrame) -> list[str]:
    """The groups of the reliability panel: each of our sources, then the paper's two."""
    return [*sorted(set(cells.loc[cells["source"] != "paper", "source"])), PAPER_SAME, PAPER_ALL]


def _regime_means(own: pd.DataFrame, score: str = "ablation_score") -> dict[str, float]:
    """Our mean score per regime over the cells drawn (NaN: none drawn)."""
    drawn = own[own["n_runs"] > 0]
    return {r: drawn.loc[drawn["regime"] == r, score].mean() for r in REGIMES}


def _finding(own: pd.DataFrame, domain: str) -> str:
    means = _regime_means(own[own["domain"] == domain])
    return regime_finding(means["pretrained"], means["scratch"])


def _draw_domain(axes, cells, domain: str, styles: dict, alpha: float, letters) -> None:
    """One row of panels: the two scores per regime, then the reliability."""
    here = cells[cells["domain"] == domain]
    drawn = here[here["matched"] & (here["n_runs"] > 0)]
    regimes = [r for r in REGIMES if r in set(here.loc[here["n_runs"] > 0, "regime"])]
    own = here[here["source"] != "paper"]
    for col, score in enumerate(SCORES):
        _score_panel(axes[col], drawn, regimes, score, styles)
        axes[col].set_xticks(range(len(regimes)), [_tick(r, here) for r in regimes])
        if score == "ablation_score":
            finding = _finding(own, domain)
        else:
            means = _regime_means(own, score)
            finding = "ours: " + ", ".join(
                f"{r} {m:+.2f}" for r, m in means.items() if r in regimes and pd.notna(m)
            )
        text = f"{domain}, {SCORE_NAMES[score]}:\n{textwrap.fill(finding, 36)}"
        panel_title(axes[col], letters[col], text)
    table = regime_table(here)
    _reliability_panel(axes[2], table, regimes, _groups(cells))
    mine = table[table["group"].isin(set(own["source"]))]
    finding = reliability_finding(
        int(mine["n_significant"].sum()),
        int(mine["n_cells"].sum()),
        int(mine["n_untestable"].sum()),
    )
    finding = "ours: " + finding[0].lower() + finding[1:]
    text = f"{domain}, reliability (p < {alpha}):\n{textwrap.fill(finding, 36)}"
    panel_title(axes[2], letters[2], text)


def _cell_styles(own: pd.DataFrame) -> dict[tuple, dict[str, str]]:
    """Our cell (``LINE_KEYS``) -> its marker and line style, in turn."""
    keys = own[LINE_KEYS].drop_duplicates().itertuples(index=False, name=None)
    return {
        key: {"marker": MARKERS[i % len(MARKERS)], "linestyle": LINE_STYLES[i % len(LINE_STYLES)]}
        for i, key in enumerate(keys)
    }


def _legend_entries(cells: pd.DataFrame, styles: dict) -> list[tuple[str, dict[str, Any]]]:
    """The regimes' colours, our cells' lines, the paper's architectures, markers and bars."""
    own = cells[(cells["source"] != "paper") & (cells["n_runs"] > 0)]
    entries = []
    for key, style in styles.items():
        name = _cell_name(*key[1:4])
        label = f"{key[0]}: {name}, {architecture_label(key[4], source_size(key[0]))}"
        entries.append((label, {"kind": "line", "color": "black", "markerfacecolor": "white",
                                "markeredgecolor": "black", **style}))  # fmt: skip
    drawn = cells[cells["matched"] & (cells["n_runs"] > 0) & (cells["source"] == "paper")]
    for arch in sorted(set(drawn["architecture"])):
        marker = "s" if arch == "wide_resnet" else "o"
        label = f"{PAPER_LABEL}: {architecture_label(arch)}"
        entries.append((label, {"kind": "line", "color": COLORS["paper"], "marker": marker}))
    entries = [(label, {**style, "markersize": 5}) for label, style in entries]
    entries += [(f"{RANDOM_ABLATION} (cell mean)", HOLLOW_DIAMOND), MEAN_ENTRY]
    entries += [
        (f"{regime}: points and bars of ours", {"kind": "patch", "facecolor": regime_color(regime)})
        for regime in REGIMES
        if regime in set(own["regime"])
    ]
    for group, color in PAPER_BARS.items():
        entries.append((group, {"kind": "patch", "facecolor": color, "edgecolor": "black"}))
    return entries


def _details(own: pd.DataFrame) -> list[str]:
    """The title's lines of details: our runs and cells drawn per source, then the key."""
    counts = [
        f"{source}: {int(part['n_runs'].sum())} runs in {int((part['n_runs'] > 0).sum())} cells "
        f"drawn, {int(part['n_excluded'].sum())} excluded"
        for source, part in own.groupby("source", sort=False)
    ]
    key = (
        f"Lines join a cell across regimes; grey: {PAPER_LABEL}. Significance: GLM, errors "
        "clustered by base model, two-sided; ours t(G-1), the paper's its own z test."
    )
    return [*counts, key]


@themed
def pretrained_vs_random_figure(cells: pd.DataFrame, alpha: float = 0.05) -> Figure:
    """Subnetwork and ablation scores per regime, paired by cell, and the reliability.

    One row per domain of ours. Left two panels: per regime (scratch, pretrained, untrained)
    the cell means of ours (left, points in the regime's colour) and of the paper's matched
    cells (grey, right), a line joining each task x subroutine (x architecture) across
    regimes, a thick bar at the mean over cells, and ours' size-matched random ablation as
    hollow diamonds. Right panel: the fraction of cells whose ablation score is significantly
    below 0 (two-sided p < ``alpha`` and a negative mean; ours t with G - 1 df, the paper's
    cells its z), for ours, the paper's matched cells and all the paper's cells; where every
    cell of a group is untestable (fewer than 2 base models) no bar is drawn, a label says
    so. The title states, per domain, how our pretrained and scratch ablation scores compare
    (``sclib.plots.findings.regime_finding``).

    Args:
        cells: ``cell_table(ours, paper, alpha)``.
        alpha: the significance level used there (for the titles only).
    """
    own = cells[cells["source"] != "paper"]
    domains = domain_order(own["domain"])
    styles = _cell_styles(own)
    fig, axes = plt.subplots(
        len(domains),
        3,
        figsize=(MAX_WIDTH_IN, 4.6 * len(domains) + 1.4),
        squeeze=False,
        gridspec_kw={"width_ratios": [1.1, 1.1, 1]},
    )
    letters = panel_letters(3 * len(domains))
    for row, domain in enumerate(domains):
        _draw_domain(axes[row], cells, domain, styles, alpha, letters[3 * row : 3 * row + 3])
    legend_below(fig, _legend_entries(cells, styles))
    figure_title(fig, combine_findings({d: _finding(own, d) for d in domains}), *_details(own))
    fig.tight_layout()
    return fig
