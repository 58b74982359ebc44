"""Figures 04, imperfect decomposition, drawn: four figures of one message each.

Used by ``notebooks/04_imperfect_decomposition.ipynb``; draws the tables of
:func:`sclib.plots.decomposition.decomposition_tables`. :func:`decomposition_figures` makes all
four, each with its data: ``imperfect_decomposition`` (ablation scores of every run and how
far subnetworks stay above chance on the other subroutine, :func:`scores_figure`),
``mask_overlap`` and ``mask_layers`` (where the masks live,
:mod:`sclib.plots.decomposition_layers`) and ``decomposition_grades`` (:func:`grades_figure`).
Colours are regimes (``sclib.plots.style.COLORS``); grey is the paper.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sclib.plots.decomposition_layers import (
    REGIME_ORDER,
    Focus,
    domains_of,
    focus_of,
    layers_figure,
    overlap_figure,
)
from sclib.plots.findings import (
    combine_findings,
    grade_finding,
    imperfect_finding,
    split_finding,
)
from sclib.plots.style import (
    COLORS,
    MAX_WIDTH_IN,
    PAPER_COLOR,
    RANDOM_ABLATION,
    exclusion_counts,
    figure_title,
    has_variant,
    legend_handles,
    panel_letters,
    panel_table,
    panel_title,
    regime_color,
    source_size,
    themed,
)
from sclib.stats.vocabulary import (
    DOMAINS,
    PAPER_LABEL,
    TASK_LABELS,
    TRAINED_REGIMES,
    architecture_label,
)

GRADE_LABELS = {
    "random_corrected": "random-corrected grade",
    "zero_only": "zero-ablation-only grade",
}
# the panels' own legends: (label, style) entries for sclib.plots.style.legend_handles
ABLATION_ENTRIES = [
    ("zero ablation: runs, quartiles", {"marker": "o", "color": "0.3"}),
    (
        f"{RANDOM_ABLATION} (runs, mean)",
        {"marker": "D", "markerfacecolor": "none", "color": COLORS["random"]},
    ),
]
GAP_ENTRIES = [
    (
        "mean: above chance on the other subroutine",
        {"kind": "patch", "facecolor": "0.5", "alpha": 0.45},
    ),
    (
        "mean: below 1.0 on its own subroutine",
        {"kind": "patch", "facecolor": "none", "edgecolor": "0.4", "hatch": "///"},
    ),
    ("runs: above chance on the other", {"marker": "o", "color": "0.3"}),
]
GRADE_ENTRIES = [
    (f"ours: {GRADE_LABELS['random_corrected']}", {"marker": "o", "color": "0.3"}),
    (
        f"ours: {GRADE_LABELS['zero_only']}",
        {"marker": "o", "color": "0.3", "markerfacecolor": "none"},
    ),
    (f"{PAPER_LABEL}: {GRADE_LABELS['zero_only']}", {"marker": "s", "color": PAPER_COLOR}),
]


def _color(source: str, regime: str) -> Any:
    return PAPER_COLOR if source == "paper" else regime_color(regime)


# ------------------------------------------------------------------ scores: one row a group


def _group_order(frame: pd.DataFrame) -> list[str]:
    """The rows of the scores figure: vision first, ours before the paper, regimes in order."""
    keys = frame.drop_duplicates("group")[["group", "domain", "source", "regime"]].copy()
    keys["d"] = keys["domain"].map({d: i for i, d in enumerate(DOMAINS)}).fillna(len(DOMAINS))
    keys["s"] = keys["source"].eq("paper").astype(int)
    keys["r"] = keys["regime"].map(REGIME_ORDER)
    return keys.sort_values(["d", "s", "r", "group"])["group"].tolist()


def _strip(ax, y: float, values: np.ndarray, color, rng, hollow: bool = False):
    """Runs as jittered dots around row ``y``, with a quartile box (or, hollow, a mean marker)."""
    values = values[~np.isnan(values)]
    if not len(values):
        return
    face, marker = ("none", "D") if hollow else (color, "o")
    style = {
        "marker": marker,
        "facecolors": face,
        "edgecolors": COLORS["random"] if hollow else color,
    }
    jitter = rng.uniform(-0.12, 0.12, len(values))
    ax.scatter(values, y + jitter, s=10, linewidths=0.7, alpha=0.6, zorder=3, **style)
    if hollow:
        ax.scatter([values.mean()], [y], s=60, linewidths=1.4, zorder=4, **style)
        return
    lines = {k: {"color": color} for k in ("boxprops", "whiskerprops", "capprops")}
    ax.boxplot(
        values, positions=[y], vert=False, widths=0.5, showfliers=False, manage_ticks=False,
        medianprops={"color": "black"}, zorder=2, **lines,
    )  # fmt: skip


def _rows_axis(ax, groups: list[str]):
    ax.set_yticks(range(len(groups)), groups)
    ax.set_ylim(len(groups) - 0.5, -0.5)
    ax.grid(axis="y", visible=False)


def _group_rows(table: pd.DataFrame, groups: list[str]) -> Iterator[tuple[int, pd.DataFrame, Any]]:
    """Per drawn row position: ``(y, the group's rows, its colour)``, empty groups skipped."""
    for y, group in enumerate(groups):
        rows = table[table["group"] == group]
        if len(rows):
            yield y, rows, _color(rows["source"].iloc[0], rows["regime"].iloc[0])


def draw_ablation_distribution(ax, a: pd.DataFrame, groups: list[str], rng) -> None:
    """Per group, zero-ablation scores (box, dots) and our random ablation (hollow)."""
    for y, rows, color in _group_rows(a, groups):
        zero = rows[rows["ablation"] == "zero"]["score"].to_numpy(float)
        _strip(ax, y, zero, color, rng)
        rand = rows[rows["ablation"] == "randomly_sampled"]["score"].to_numpy(float)
        _strip(ax, y + 0.3, rand, color, rng, hollow=True)
    ax.axvline(0, color="black", linewidth=0.8, zorder=1)
    _rows_axis(ax, groups)
    ax.set_xlabel("ablation score (< 0: hurts its own subroutine more)")
    handles = legend_handles(ABLATION_ENTRIES)
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1)


def draw_gap_to_ideal(ax, b: pd.DataFrame, groups: list[str], rng) -> None:
    """Mean gap to the ideal subnetwork score, split in its two parts; runs as dots."""
    for y, rows, color in _group_rows(b, groups):
        other = rows["other_above_chance"].mean()
        missed = rows["target_below_ideal"].mean()
        ax.barh(y, other, height=0.55, color=color, alpha=0.45, zorder=2)
        ax.barh(
            y, missed, left=other, height=0.55, color="none", edgecolor=color, hatch="///",
            linewidth=0.8, zorder=2,
        )  # fmt: skip
        dots = rows["other_above_chance"].to_numpy(float)
        jitter = rng.uniform(-0.12, 0.12, len(dots))
        ax.scatter(dots, y + jitter, s=10, color=color, alpha=0.6, linewidths=0, zorder=3)
    ax.axvline(0, color="black", linewidth=0.8, zorder=1)
    _rows_axis(ax, groups)
    ax.set_xlabel("gap to the ideal subnetwork score (0.75)")
    handles = legend_handles(GAP_ENTRIES)
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1)


def _trained_ours(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[(frame["source"] != "paper") & frame["regime"].isin(TRAINED_REGIMES)]


@themed
def scores_figure(
    tables: Mapping[str, pd.DataFrame], runs: pd.DataFrame | None = None, seed: int = 0
) -> Figure:
    """Decomposition is imperfect: (a) the ablation scores of every run, (b) how far each
    subnetwork stays above chance on the other subroutine; a row per group (domain, source,
    regime), ours beside the paper's.

    The title states whether our trained runs decompose cleanly
    (``sclib.plots.findings.imperfect_finding``). ``runs``: our run rows, to count in the
    title those drawn and those excluded; ``seed``: the jitter of the dots.
    """
    rng = np.random.default_rng(seed)
    a, b = tables["ablation"], tables["gap"]
    groups = _group_order(pd.concat([a, b])[["group", "domain", "source", "regime"]])
    fig, (ax_a, ax_b) = plt.subplots(
        1, 2, figsize=(MAX_WIDTH_IN, 0.34 * len(groups) + 2.8), sharey=True, layout="constrained"
    )
    draw_ablation_distribution(ax_a, a, groups, rng)
    draw_gap_to_ideal(ax_b, b, groups, rng)
    zero = _trained_ours(a)
    zero = zero.loc[zero["ablation"] == "zero", "score"] if len(zero) else []
    above = _trained_ours(b)["other_above_chance"] if len(b) else []
    panel_title(ax_a, "a", "ablation scores of every run")
    panel_title(ax_b, "b", "above chance on the other subroutine")
    counts = f"Ours: {exclusion_counts(runs)}, left out." if runs is not None else ""
    key = f"Colour: regime; grey: {PAPER_LABEL}, same tasks and subroutines."
    figure_title(fig, imperfect_finding(zero, above), counts, key)
    return fig


# ------------------------------------------------------------------ grades per cell


def _grade_label(row: pd.Series) -> str:
    paper = row["source"] == "paper"
    arch = architecture_label(row["architecture"], "full" if paper else source_size(row["source"]))
    cell = f"{TASK_LABELS.get(row['task'], row['task'])} · {row['subroutine']}"
    if has_variant(row.get("variant")):
        cell += f" ({row['variant']})"
    return f"{cell}: {'paper' if paper else 'ours'}, {arch}, {row['regime']}"


def _grade_point(ax, row: Any, y: float) -> None:
    """One cell's mean grade, its interval as error bars; ours' zero-only grade hollow."""
    color = _color(row.source, row.regime)
    hollow = row.p == 0 and row.grade_kind == "zero_only"
    err = np.array([[row.grade_mean - row.grade_low], [row.grade_high - row.grade_mean]])
    ax.errorbar(
        row.grade_mean, y,
        xerr=None if np.isnan(err).any() else err,  # no interval with one base model
        fmt="s" if row.p else "o", color=color, markerfacecolor="none" if hollow else color,
        capsize=2, markersize=5, zorder=3,
    )  # fmt: skip


def draw_grades(ax, e: pd.DataFrame, domain: str) -> None:
    """Mean grade per cell with its 95% interval (``graded_summary``); variants labelled."""
    rows = e[e["domain"] == domain].copy()
    if not len(rows):
        ax.text(0.5, 0.5, "no graded runs", ha="center", transform=ax.transAxes)
        return
    rows["label"] = rows.apply(_grade_label, axis=1)
    rows["p"] = rows["source"].eq("paper").astype(int)
    rows["r"] = rows["regime"].map(REGIME_ORDER)
    rows = rows.sort_values(["task", "variant", "subroutine", "p", "architecture", "r"])
    labels = list(dict.fromkeys(rows["label"]))
    offsets = {"random_corrected": -0.15, "zero_only": 0.15}
    for row in rows.itertuples(index=False):
        y = labels.index(row.label) + (offsets[row.grade_kind] if row.p == 0 else 0.0)
        _grade_point(ax, row, y)
    ax.axvline(0, color="black", linewidth=0.8, zorder=1)
    ax.axvline(1, color="0.6", linestyle=":", linewidth=0.8, zorder=1)  # a perfect decomposition
    _rows_axis(ax, labels)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel("decomposition grade (1: perfect; 0: no more selective than chance)")
    handles = legend_handles(GRADE_ENTRIES)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0))


# ------------------------------------------------------------------ the figures


def _our_grades(e: pd.DataFrame) -> pd.Series:
    """Our cells' mean grades: the random-corrected grade where a cell has one, else zero-only."""
    ours = e[e["source"] != "paper"]
    if not len(ours):
        return pd.Series(dtype=float)
    kind = "random_corrected" if (ours["grade_kind"] == "random_corrected").any() else "zero_only"
    return ours.loc[ours["grade_kind"] == kind, "grade_mean"]


@themed
def grades_figure(tables: Mapping[str, pd.DataFrame]) -> Figure:
    """Decomposition is graded: one grade per cell with a 95% interval, a panel per domain,
    ours beside the paper's. The title states the range of our cells' grades
    (``sclib.plots.findings.grade_finding``)."""
    e, domains = tables["grades"], domains_of(tables)
    heights = [0.3 * max(len(e[e["domain"] == d]), 1) + 1.3 for d in domains] or [2.0]
    fig, axes = plt.subplots(
        len(heights), 1, figsize=(MAX_WIDTH_IN, sum(heights) + 1.0), squeeze=False,
        gridspec_kw={"height_ratios": heights}, layout="constrained",
    )  # fmt: skip
    findings = {}
    for ax, letter, domain in zip(axes[:, 0], panel_letters(len(domains)), domains, strict=False):
        draw_grades(ax, e, domain)
        findings[domain] = grade_finding(_our_grades(e[e["domain"] == domain]))
        panel_title(ax, letter, f"{domain}, ours: {split_finding(findings[domain])[1] or 'none'}")
    figure_title(
        fig, combine_findings(findings),
        "Mean grade per cell, 95% interval over base models (t(G-1) below 6 base models, a "
        "cluster bootstrap from 6 on; none with one base model). Colour: regime; grey: "
        f"{PAPER_LABEL}.",
    )  # fmt: skip
    return fig


# the figures of notebook 04, by file name
FIGURE_STEMS = ("imperfect_decomposition", "mask_overlap", "mask_layers", "decomposition_grades")


def _by_domain(table: pd.DataFrame, domains: list[str], chosen: dict, key: str | None):
    """A figure's data: per domain panel (its letter), the rows it draws."""
    panels = {}
    for letter, domain in zip(panel_letters(len(domains)), domains, strict=False):
        rows = table[table["domain"] == domain] if len(table) else table
        if key and domain in chosen and len(rows):
            task, arch = chosen[domain]
            rows = rows[rows["architecture"] == arch]
            rows = rows[rows["task"] == task] if key == "task" else rows
        panels[letter] = rows
    return panel_table(panels)


def decomposition_figures(
    tables: Mapping[str, pd.DataFrame],
    focus: Focus | None = None,
    seed: int = 0,
    runs: pd.DataFrame | None = None,
) -> dict[str, tuple[Figure, pd.DataFrame]]:
    """Notebook 04's four figures, each with the data it draws (a ``panel`` column first).

    Keys are the figures' file names (``FIGURE_STEMS``): ``imperfect_decomposition``
    (:func:`scores_figure`), ``mask_overlap`` and ``mask_layers``
    (``sclib.plots.decomposition_layers``), ``decomposition_grades`` (:func:`grades_figure`).
    Panel letters run a, b, ... in each figure, and its data's ``panel`` column uses them.

    Args:
        focus: domain -> (task, architecture) the mask figures draw (the overlap figure: all
            tasks of that architecture); by default the first of each domain's masks.
        seed: jitter of the dots.
        runs: our run rows, to count in the scores figure's title those drawn and excluded.
    """
    domains, chosen = domains_of(tables), focus_of(tables, focus)
    scores = panel_table({"a": tables["ablation"], "b": tables["gap"]})
    return {
        "imperfect_decomposition": (scores_figure(tables, runs=runs, seed=seed), scores),
        "mask_overlap": (
            overlap_figure(tables, focus, seed),
            _by_domain(tables["overlap"], domains, chosen, "architecture"),
        ),
        "mask_layers": (
            layers_figure(tables, focus),
            _by_domain(tables["kept"], domains, chosen, "task"),
        ),
        "decomposition_grades": (
            grades_figure(tables),
            _by_domain(tables["grades"], domains, chosen, None),
        ),
    }
