"""Figure 04, imperfect decomposition, drawn: five panels from the tables of one call.

Used by ``notebooks/04_imperfect_decomposition.ipynb``; draws
:func:`sclib.plots.decomposition.decomposition_tables`: panels (a), (b) and (e) here, (c)
and (d) (where the masks live) in :mod:`sclib.plots.decomposition_layers`. Colours are
regimes (scratch blue, pretrained orange, untrained purple); grey is the paper.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sclib.plots.decomposition_layers import (
    PAPER_IOU_TEXT,
    REGIME_ORDER,
    draw_kept,
    draw_overlap,
)
from sclib.plots.style import (
    PAPER_COLOR,
    RANDOM_ABLATION,
    REGIME_COLORS,
    exclusion_counts,
    has_variant,
    legend_handles,
    source_size,
)
from sclib.stats.vocabulary import DOMAINS, PAPER_LABEL, TASK_LABELS, architecture_label

GRADE_LABELS = {
    "random_corrected": "random-corrected grade",
    "zero_only": "zero-ablation-only grade",
}
# the panels' own legends: (label, style) entries for sclib.plots.style.legend_handles
ABLATION_ENTRIES = [
    ("zero ablation: runs, quartiles", {"marker": "o", "color": "0.3"}),
    (f"{RANDOM_ABLATION} (runs, mean)", {"marker": "D", "markerfacecolor": "none", "color": "0.3"}),
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
    return PAPER_COLOR if source == "paper" else REGIME_COLORS.get(regime, "tab:green")


# ------------------------------------------------------------------ (a) and (b): one row a group


def _group_order(frame: pd.DataFrame) -> list[str]:
    """The rows of panels (a) and (b): vision first, ours before the paper, regimes in order."""
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
    style = {"marker": marker, "facecolors": face, "edgecolors": color}
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
    ax.set_yticks(range(len(groups)), groups, fontsize=7)
    ax.set_ylim(len(groups) - 0.5, -0.5)
    ax.grid(axis="x", alpha=0.3)


def _group_rows(table: pd.DataFrame, groups: list[str]) -> Iterator[tuple[int, pd.DataFrame, Any]]:
    """Per drawn row position: ``(y, the group's rows, its colour)``, empty groups skipped."""
    for y, group in enumerate(groups):
        rows = table[table["group"] == group]
        if len(rows):
            yield y, rows, _color(rows["source"].iloc[0], rows["regime"].iloc[0])


def draw_ablation_distribution(ax, a: pd.DataFrame, groups: list[str], rng) -> None:
    """Panel (a): per group, zero-ablation scores (box, dots) and our random ablation (hollow)."""
    for y, rows, color in _group_rows(a, groups):
        zero = rows[rows["ablation"] == "zero"]["score"].to_numpy(float)
        _strip(ax, y, zero, color, rng)
        rand = rows[rows["ablation"] == "randomly_sampled"]["score"].to_numpy(float)
        _strip(ax, y + 0.3, rand, color, rng, hollow=True)
    ax.axvline(0, color="black", linewidth=0.8, zorder=1)
    _rows_axis(ax, groups)
    ax.set_xlabel("ablation score (< 0: ablation hurts its own subroutine more)", fontsize=8)
    ax.set_title("(a) ablation scores of every run", fontsize=9, loc="left")
    handles = legend_handles(ABLATION_ENTRIES)
    ax.legend(handles=handles, fontsize=7, loc="lower right", framealpha=0.8)


def draw_gap_to_ideal(ax, b: pd.DataFrame, groups: list[str], rng) -> None:
    """Panel (b): mean gap to the ideal subnetwork score, split in its two parts; runs as dots."""
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
    ax.set_xlabel("gap to the ideal subnetwork score (0.75)", fontsize=8)
    title = "(b) subnetworks stay above chance on the other subroutine"
    ax.set_title(title, fontsize=9, loc="left")
    ax.legend(handles=legend_handles(GAP_ENTRIES), fontsize=7, loc="lower right", framealpha=0.8)


# ------------------------------------------------------------------ (e) grades per cell


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
    """Panel (e): mean grade per cell with its 95% interval (``graded_summary``); variants labelled."""
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
    ax.set_xlabel("decomposition grade (1: perfect; 0: no more selective than chance)", fontsize=8)
    title = (
        f"(e) {domain}: grade per cell, mean, 95% interval (t if < 6 base models, else bootstrap)"
    )
    ax.set_title(title, fontsize=9, loc="left")
    handles = legend_handles(GRADE_ENTRIES)
    ax.legend(handles=handles, fontsize=6.5, loc="lower left", framealpha=0.8)


# ------------------------------------------------------------------ the figure


def _focus(tables: Mapping[str, pd.DataFrame], domain: str) -> tuple[str, str] | None:
    for name in ("d", "c"):
        t = tables[name]
        if len(t) and "task" in t and (t.get("domain") == domain).any():
            first = t[t["domain"] == domain].iloc[0]
            return first["task"], first["architecture"]
    return None


def decomposition_figure(
    tables: Mapping[str, pd.DataFrame],
    focus: Mapping[str, tuple[str, str]] | None = None,
    seed: int = 0,
    runs: pd.DataFrame | None = None,
) -> Figure:
    """The five panels from :func:`sclib.plots.decomposition.decomposition_tables`.

    Rows: (a) and (b) side by side; then per domain (c) and (d); then (e) per domain.
    Colours are regimes (scratch blue, pretrained orange, untrained purple); grey is the paper.

    Args:
        focus: domain -> (task, architecture) drawn in (c) (all tasks of that architecture)
            and (d) (that task); by default the first of each domain's masks.
        runs: our run rows, to count in the caption those drawn and those excluded.
        seed: jitter of the dots.
    """
    rng = np.random.default_rng(seed)
    a, b, e = tables["a"], tables["b"], tables["e"]
    present = set(b["domain"]) | set(tables["d"].get("domain", []))
    domains = [d for d in DOMAINS if d in present]
    focus = {d: f for d in domains if (f := (focus or {}).get(d) or _focus(tables, d))}
    groups = _group_order(pd.concat([a, b])[["group", "domain", "source", "regime"]])
    n_e = max([len(e[e["domain"] == d]) for d in domains] + [1])
    heights = [0.32 * len(groups) + 1.4, 3.2, 3.0, 0.2 * n_e + 1.6]
    fig = plt.figure(figsize=(15, sum(heights)), layout="constrained")
    top, mid_c, mid_d, bottom = fig.subfigures(4, 1, height_ratios=heights)
    ax_a, ax_b = top.subplots(1, 2)
    draw_ablation_distribution(ax_a, a, groups, rng)
    draw_gap_to_ideal(ax_b, b, groups, rng)
    ax_b.set_yticklabels([])
    n = max(len(domains), 1)
    axes_c = mid_c.subplots(1, n, squeeze=False)[0]
    axes_d = mid_d.subplots(1, n, squeeze=False)[0]
    for ax_c, ax_d, domain in zip(axes_c, axes_d, domains, strict=False):
        task, arch = focus.get(domain, (None, None))
        draw_overlap(ax_c, tables["c"], domain, arch, rng)
        draw_kept(ax_d, tables["d"], domain, task, arch)
    for ax, domain in zip(bottom.subplots(1, n, squeeze=False)[0], domains, strict=False):
        draw_grades(ax, e, domain)
    fig.suptitle(
        "Imperfect, graded decomposition. Colours: our regimes (blue scratch, orange pretrained, "
        f"purple untrained); grey: {PAPER_LABEL}, same tasks and subroutines, its architectures.\n"
        f"Shaded bands in (c): the paper's reported overlap ({PAPER_IOU_TEXT}), not ours."
        + (
            f"\nOurs: {exclusion_counts(runs)} (left out of every panel)."
            if runs is not None
            else ""
        ),
        fontsize=9,
    )
    return fig
