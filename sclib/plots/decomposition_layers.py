"""Two figures of notebook 04: where in the network the two subroutines' masks live.

:func:`overlap_figure`: the overlap (IoU) of the two masks per region, beside size-matched
random masks and the paper's reported ranges, a panel per domain; :func:`layers_figure`: the
fraction of each layer a mask keeps, a panel per domain. Drawn from the tables of
:func:`sclib.plots.decomposition.decomposition_tables` (``overlap`` and ``kept``);
:func:`sclib.plots.decomposition_figure.decomposition_figures` draws them with the others.

>>> region_key("stage3") < region_key("stage4") < region_key("mlp")
True
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sclib.plots.decomposition import kept_by_region
from sclib.plots.findings import combine_findings, location_finding, overlap_finding
from sclib.plots.style import (
    COLORS,
    MAX_WIDTH_IN,
    PAPER_COLOR,
    REGIME_STYLES,
    figure_title,
    panel_letters,
    panel_title,
    regime_color,
    subroutine_colors,
    themed,
)
from sclib.stats.vocabulary import (
    DOMAINS,
    REGIMES,
    TASK_LABELS,
    TRAINED_REGIMES,
    architecture_label,
)

# Lepori et al., arXiv 2301.10884, on imperfect decomposition: "partial overlap of subroutine masks:
# IoU ~0.03-0.12 in conv layers, 0.24-0.32 in the MLP". The PAPER's numbers, not ours, drawn
# as shaded bands labelled "paper" on the vision panel only (read here as the ResNets' conv
# stages and their MLP head: BERT has no conv layers). They measure something else than our
# single-mask IoU: the authors intersected each subroutine's 3 mask seeds before the IoU, and
# their MLP masks were never temperature-annealed (their code); our "intersect_seeds" rows, where
# a profile has several mask seeds, are the like-for-like comparison.
PAPER_IOU_TEXT = (
    "IoU ~0.03-0.12 in conv layers, 0.24-0.32 in the MLP, of 3-seed intersections; "
    "MLP masks not annealed"
)
PAPER_IOU_RANGES = {"conv": (0.03, 0.12), "mlp": (0.24, 0.32)}
# regimes in the figures' order: series here, rows of the scores and grades figures
REGIME_ORDER = {r: i for i, r in enumerate(REGIMES)}
Focus = Mapping[str, tuple[str, str]]  # domain -> (task, architecture) a figure draws


def region_key(region: str) -> tuple[int, int, str]:
    """A sort key that puts regions in network order: stem, stages, encoder layers, MLP head."""
    for rank, pattern in enumerate((r"stem", r"stage(\d+)", r"layer\.(\d+)", r"mlp")):
        match = re.fullmatch(pattern, region)
        if match:
            return rank, int(match.group(1)) if match.groups() else 0, ""
    return 4, 0, region


def paper_iou_range(region: str) -> tuple[float, float] | None:
    """The paper's reported IoU range for a vision region (conv stages, MLP head), else None."""
    if region == "mlp":
        return PAPER_IOU_RANGES["mlp"]
    if region == "stem" or region.startswith("stage"):
        return PAPER_IOU_RANGES["conv"]
    return None


def _model_size(rows: pd.DataFrame) -> str:
    """The model size of the runs' architectures: the paper's sizes in the full profile only."""
    profiles = set(rows["profile"]) if "profile" in rows and len(rows) else set()
    return "full" if profiles == {"full"} else "quick"


def domains_of(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    """The domains the figures draw: those of the gap table and of the masks, in order."""
    present = set(tables["gap"].get("domain", [])) | set(tables["kept"].get("domain", []))
    return [d for d in DOMAINS if d in present] + sorted(present - set(DOMAINS))


def focus_of(tables: Mapping[str, pd.DataFrame], focus: Focus | None = None) -> dict:
    """Domain -> (task, architecture) the mask figures draw: ``focus`` where it names one,
    else the first cell of that domain's masks (its kept table, else its overlap table)."""
    chosen = {}
    for domain in domains_of(tables):
        if focus and domain in focus:
            chosen[domain] = focus[domain]
            continue
        for name in ("kept", "overlap"):
            t = tables[name]
            if len(t) and "task" in t and (t.get("domain") == domain).any():
                first = t[t["domain"] == domain].iloc[0]
                chosen[domain] = (first["task"], first["architecture"])
                break
    return chosen


# ------------------------------------------------------------------ overlap per region


def _paper_bands(ax, regions: list[str], domain: str) -> None:
    """The paper's reported IoU ranges as grey bands behind the vision regions."""
    if domain != "vision":
        return
    band_labels = {
        "conv": "paper: IoU {}-{} (conv layers), 3-seed intersections",
        "mlp": "paper: IoU {}-{} (MLP), 3-seed intersections; MLP masks not annealed",
    }
    band_labels = {k: band_labels[k].format(*PAPER_IOU_RANGES[k]) for k in band_labels}
    for i, region in enumerate(regions):
        band = paper_iou_range(region)
        if band:
            label = band_labels.pop("mlp" if region == "mlp" else "conv", None)
            ax.fill_between(
                [i - 0.4, i + 0.4], *band, color=PAPER_COLOR, alpha=0.3, lw=0, label=label, zorder=1
            )


def _intersected_series(ax, part: pd.DataFrame, regime: str, shift: float, x_of: dict) -> None:
    """One regime's mean IoU of 3-seed intersections per region (the paper's measure), as x."""
    means = part.groupby("region")["iou"].mean()
    means = means.loc[[r for r in x_of if r in means.index]]
    ax.plot(
        means.index.map(x_of).to_numpy(float) + shift, means, "x", ms=7, mew=2, zorder=5,
        color=regime_color(regime), label=f"ours, {regime}: IoU of mask-seed intersections",
    )  # fmt: skip


def _overlap_series(ax, part: pd.DataFrame, regime: str, shift: float, x_of: dict, rng) -> None:
    """One regime: IoU per pair of masks (dots), its mean and the random expectation per region.

    Rows of ``method`` ``"intersect_seeds"`` (the paper's measure) are drawn apart, as x. The
    random expectation is the random control's: black, dashed, hollow diamonds."""
    color = regime_color(regime)
    if "method" in part:
        intersected = part[part["method"] == "intersect_seeds"]
        if len(intersected):
            _intersected_series(ax, intersected, regime, shift, x_of)
        part = part[part["method"] != "intersect_seeds"]
    x = part["region"].map(x_of).to_numpy(float) + shift
    ax.scatter(
        x + rng.uniform(-0.04, 0.04, len(x)), part["iou"], s=12, color=color, alpha=0.6, zorder=3
    )
    means = part.groupby("region")[["iou", "random_expected_iou"]].mean()
    means = means.loc[[r for r in x_of if r in means.index]]
    xs = means.index.map(x_of).to_numpy(float) + shift
    ax.plot(
        xs, means["iou"], "o-", color=color, markeredgecolor="black", zorder=4,
        label=f"ours, {regime}: subroutine A vs B",
    )  # fmt: skip
    ax.plot(
        xs, means["random_expected_iou"], "D--", color=COLORS["random"], markerfacecolor="none",
        linewidth=0.8, zorder=4, label="ours: size-matched random masks (beside each regime)",
    )  # fmt: skip


def _overlap_numbers(rows: pd.DataFrame) -> tuple[float, float]:
    """Our trained runs' mean IoU of single masks and the random masks' mean expectation."""
    rows = rows[rows["regime"].isin(TRAINED_REGIMES)]
    if "method" in rows:
        rows = rows[rows["method"] != "intersect_seeds"]
    return rows["iou"].mean(), rows["random_expected_iou"].mean()


def draw_overlap(ax, c: pd.DataFrame, domain: str, architecture: str, rng) -> None:
    """A panel of the overlap figure: pooled IoU per region, one series per regime, beside
    random masks and the paper's range; no title (the figure gives it)."""
    rows = c[(c["domain"] == domain) & (c["architecture"] == architecture)]
    regions = sorted(rows["region"].unique(), key=region_key)
    x_of = {r: i for i, r in enumerate(regions)}
    _paper_bands(ax, regions, domain)
    by_regime = sorted(rows.groupby("regime"), key=lambda kv: REGIME_ORDER.get(kv[0], 9))
    for k, (regime, part) in enumerate(by_regime):
        _overlap_series(ax, part, regime, (k - 1) * 0.12, x_of, rng)
    ax.set_xticks(range(len(regions)), regions)
    ax.set_xlim(-0.5, max(len(regions), 1) - 0.5)
    top = np.nanmax([*rows["iou"], *rows["random_expected_iou"], 0.0])
    ax.set_ylim(0, 1.15 * max(top, 0.32 if domain == "vision" else 0.05))
    ax.set_ylabel("IoU |A∩B| / |A∪B| (pooled per region)")
    ax.grid(axis="x", visible=False)
    if not len(rows):
        ax.text(0.5, 0.5, "no pairs of masks", ha="center", transform=ax.transAxes)


def _legend_below(fig: Figure, axes) -> None:
    """One legend under the panels: every distinct label of the axes, in order."""
    handles: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(
            handles.values(), handles.keys(), loc="upper center", bbox_to_anchor=(0.5, 0.0),
            ncol=2, frameon=False,
        )  # fmt: skip


@themed
def overlap_figure(
    tables: Mapping[str, pd.DataFrame], focus: Focus | None = None, seed: int = 0
) -> Figure:
    """The two subroutines' masks overlap: IoU per region against random masks, a panel per
    domain (the focus architecture's pairs of masks; ``focus_of``).

    The title states, per domain, whether our trained runs' masks share more weights than
    size-matched random masks (``sclib.plots.findings.overlap_finding``). Grey bands: the
    paper's reported ranges (vision only), not ours and not the same measure.
    """
    rng = np.random.default_rng(seed)
    c, domains = tables["overlap"], domains_of(tables)
    chosen = focus_of(tables, focus)
    fig, axes = plt.subplots(
        1, max(len(domains), 1), figsize=(MAX_WIDTH_IN, 5.0), squeeze=False, layout="constrained"
    )
    findings = {}
    for ax, letter, domain in zip(axes[0], panel_letters(len(domains)), domains, strict=False):
        arch = chosen.get(domain, (None, None))[1]
        rows = c[(c["domain"] == domain) & (c["architecture"] == arch)] if len(c) else c
        draw_overlap(ax, c, domain, arch, rng)
        iou, random_iou = _overlap_numbers(rows) if len(rows) else (np.nan, np.nan)
        findings[domain] = overlap_finding(iou, random_iou)
        name = architecture_label(arch, _model_size(rows)) if arch else "no masks"
        note = "" if domain == "vision" else " (the paper gives no range)"
        numbers = f"IoU {iou:.2f}, random masks {random_iou:.2f}" if len(rows) else "no pairs"
        panel_title(ax, letter, f"{domain}, {name}{note}:\n{numbers}")
    _legend_below(fig, axes[0])
    figure_title(
        fig, combine_findings(findings),
        f"Our trained runs, single masks, pooled per region. Grey bands: {PAPER_IOU_TEXT} "
        "(the paper's, not ours).",
    )  # fmt: skip
    return fig


# ------------------------------------------------------------------ kept fraction per layer


def _layer_order(rows: pd.DataFrame) -> list[str]:
    """Layers in network order: those of the run masking most layers, then any others."""
    runs = rows.groupby(["base_model_id", "subroutine", "mask_seed"], sort=False)
    longest = max((part for _, part in runs), key=len)
    order = longest.sort_values("position")["layer"].tolist()
    return order + [layer for layer in rows["layer"].unique() if layer not in set(order)]


def _region_ticks(ax, rows: pd.DataFrame, order: list[str]) -> None:
    """A tick at the first layer of each region, a faint line between regions."""
    regions = rows.drop_duplicates("layer").set_index("layer")["region"]
    starts = [
        i for i, layer in enumerate(order) if i == 0 or regions[layer] != regions[order[i - 1]]
    ]
    ax.set_xticks(starts, [regions[order[i]] for i in starts])
    for s in starts[1:]:
        ax.axvline(s - 0.5, color="0.85", linewidth=0.8, zorder=0)


def _kept_rows(d: pd.DataFrame, domain: str, task: str, architecture: str) -> pd.DataFrame:
    if not len(d):
        return d
    return d[(d["domain"] == domain) & (d["task"] == task) & (d["architecture"] == architecture)]


def _peaks(rows: pd.DataFrame) -> dict[str, str]:
    """Subroutine -> the region where our trained runs' masks keep the largest fraction."""
    trained = rows[rows["regime"].isin(TRAINED_REGIMES)]
    if not len(trained):
        return {}
    by_region = kept_by_region(trained).groupby(["subroutine", "region"], sort=False)
    pooled = by_region["kept_fraction"].mean().reset_index()
    order = list(dict.fromkeys(trained["subroutine"]))
    best = pooled.loc[pooled.groupby("subroutine")["kept_fraction"].idxmax()]
    return {sub: best.set_index("subroutine").loc[sub, "region"] for sub in order}


def draw_kept(ax, d: pd.DataFrame, domain: str, task: str, architecture: str) -> None:
    """A panel of the layers figure: kept fraction per layer, a line per subroutine (its
    colour) and regime (its line style); no title (the figure gives it)."""
    rows = _kept_rows(d, domain, task, architecture)
    if not len(rows):
        ax.text(0.5, 0.5, "no masks", ha="center", transform=ax.transAxes)
        return
    order = _layer_order(rows)
    x_of = {layer: i for i, layer in enumerate(order)}
    colors = subroutine_colors(rows["subroutine"])
    for (sub, regime), part in rows.groupby(["subroutine", "regime"], sort=False):
        means = part.groupby("layer")["fraction"].mean()
        xs = np.array([x_of[layer] for layer in means.index])
        ax.plot(
            np.sort(xs), means.to_numpy()[np.argsort(xs)], marker=".", color=colors[sub],
            linestyle=REGIME_STYLES.get(regime, "-"), label=f"{sub}, {regime}",
        )  # fmt: skip
    _region_ticks(ax, rows, order)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("masked layer, input to output (ticks: first layer of each region)")
    ax.set_ylabel("kept fraction of the layer")
    ax.grid(axis="x", visible=False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)


@themed
def layers_figure(tables: Mapping[str, pd.DataFrame], focus: Focus | None = None) -> Figure:
    """Where each subnetwork lives: the kept fraction of every masked layer, a panel per domain
    (the focus task and architecture, ``focus_of``), a line per subroutine and regime.

    The title states, per domain, where our trained runs' masks keep the largest fraction
    (``sclib.plots.findings.location_finding``).
    """
    d, domains = tables["kept"], domains_of(tables)
    chosen = focus_of(tables, focus)
    fig, axes = plt.subplots(
        max(len(domains), 1), 1, figsize=(MAX_WIDTH_IN, 3.4 * max(len(domains), 1) + 1.0),
        squeeze=False, layout="constrained",
    )  # fmt: skip
    findings = {}
    for ax, letter, domain in zip(axes[:, 0], panel_letters(len(domains)), domains, strict=False):
        task, arch = chosen.get(domain, (None, None))
        draw_kept(ax, d, domain, task, arch)
        rows = _kept_rows(d, domain, task, arch)
        findings[domain] = location_finding(_peaks(rows)) if len(rows) else "No masks to locate"
        name = f"{TASK_LABELS.get(task, task)}, {architecture_label(arch, _model_size(rows))}"
        peaks = ", ".join(f"{s}: most in {r}" for s, r in _peaks(rows).items()) if task else ""
        panel_title(
            ax,
            letter,
            f"{domain}, {name if task else 'no masks'}" + (f"; {peaks}" if peaks else ""),
        )
    figure_title(
        fig, combine_findings(findings),
        "Kept fraction of each masked layer, mean over runs; colour: subroutine, line style: "
        "regime.",
    )  # fmt: skip
    return fig
