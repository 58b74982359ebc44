"""Figure 04's panels (c) and (d): where in the network the two subroutines' masks live.

(c) the overlap (IoU) of the two masks per region, beside size-matched random masks and the
paper's reported ranges; (d) the fraction of each layer a mask keeps. Drawn by
:func:`sclib.plots.decomposition_figure.decomposition_figure` (notebook 04) from the tables
of :func:`sclib.plots.decomposition.decomposition_tables`.

>>> region_key("stage3") < region_key("stage4") < region_key("mlp")
True
"""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sclib.plots.style import PAPER_COLOR, REGIME_COLORS, REGIME_STYLES
from sclib.stats.vocabulary import REGIMES, TASK_LABELS, architecture_label

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
# regimes in the figure's order: its series here, its rows in (a), (b) and (e)
REGIME_ORDER = {r: i for i, r in enumerate(REGIMES)}


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


# ------------------------------------------------------------------ (c) overlap per region


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
        color=REGIME_COLORS.get(regime, "tab:green"),
        label=f"ours, {regime}: IoU of mask-seed intersections",
    )  # fmt: skip


def _overlap_series(ax, part: pd.DataFrame, regime: str, shift: float, x_of: dict, rng) -> None:
    """One regime: IoU per pair of masks (dots), its mean and the random expectation per region.

    Rows of ``method`` ``"intersect_seeds"`` (the paper's measure) are drawn apart, as x."""
    color = REGIME_COLORS.get(regime, "tab:green")
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
        xs, means["random_expected_iou"], "D--", color=color, markerfacecolor="none", zorder=4,
        label=f"ours, {regime}: size-matched random masks",
    )  # fmt: skip


def draw_overlap(ax, c: pd.DataFrame, domain: str, architecture: str, rng) -> None:
    """Panel (c): pooled IoU per region, one series per regime, beside random and the paper."""
    rows = c[(c["domain"] == domain) & (c["architecture"] == architecture)]
    regions = sorted(rows["region"].unique(), key=region_key)
    x_of = {r: i for i, r in enumerate(regions)}
    _paper_bands(ax, regions, domain)
    by_regime = sorted(rows.groupby("regime"), key=lambda kv: REGIME_ORDER.get(kv[0], 9))
    for k, (regime, part) in enumerate(by_regime):
        _overlap_series(ax, part, regime, (k - 1) * 0.12, x_of, rng)
    ax.set_xticks(range(len(regions)), regions, fontsize=7)
    ax.set_xlim(-0.5, max(len(regions), 1) - 0.5)
    top = np.nanmax([*rows["iou"], *rows["random_expected_iou"], 0.0])
    ax.set_ylim(0, 1.15 * max(top, 0.32 if domain == "vision" else 0.05))
    ax.set_ylabel("IoU |A∩B| / |A∪B| (pooled per region)", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    note = "" if domain == "vision" else "; no paper range for language"
    ax.set_title(
        f"(c) {domain}: overlap of the two subroutines' masks, "
        f"{architecture_label(architecture, _model_size(rows))}{note}",
        fontsize=9,
        loc="left",
    )
    if len(rows):
        ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    else:
        ax.text(0.5, 0.5, "no pairs of masks", ha="center", transform=ax.transAxes)


# ------------------------------------------------------------------ (d) kept fraction per layer


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
    ax.set_xticks(starts, [regions[order[i]] for i in starts], fontsize=7)
    for s in starts[1:]:
        ax.axvline(s - 0.5, color="0.85", linewidth=0.8, zorder=0)


def draw_kept(ax, d: pd.DataFrame, domain: str, task: str, architecture: str) -> None:
    """Panel (d): kept fraction per layer, one line per subroutine (and regime)."""
    if len(d):
        d = d[(d["domain"] == domain) & (d["task"] == task) & (d["architecture"] == architecture)]
    rows = d
    if not len(rows):
        ax.text(0.5, 0.5, "no masks", ha="center", transform=ax.transAxes)
        return
    order = _layer_order(rows)
    x_of = {layer: i for i, layer in enumerate(order)}
    colors = {s: plt.get_cmap("Dark2")(i) for i, s in enumerate(rows["subroutine"].unique())}
    for (sub, regime), part in rows.groupby(["subroutine", "regime"], sort=False):
        means = part.groupby("layer")["fraction"].mean()
        xs = np.array([x_of[layer] for layer in means.index])
        ax.plot(
            np.sort(xs), means.to_numpy()[np.argsort(xs)], marker=".", color=colors[sub],
            linestyle=REGIME_STYLES.get(regime, "-"), label=f"{sub}, {regime}",
        )  # fmt: skip
    _region_ticks(ax, rows, order)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("masked layer, input to output (ticks: first layer of each region)", fontsize=8)
    ax.set_ylabel("kept fraction of the layer", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_title(
        f"(d) {domain}: where each subnetwork lives, {TASK_LABELS.get(task, task)}, "
        f"{architecture_label(architecture, _model_size(rows))}",
        fontsize=9,
        loc="left",
    )
