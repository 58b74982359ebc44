"""The imperfect-decomposition figure and the tables behind it; nothing here trains.

Used by ``notebooks/04_imperfect_decomposition.ipynb`` (../PAPER.md, "Headline numbers",
message 3). Five panels, each from one function of ``sclib.stats.grading`` or ``.overlap``:

- (a) ablation scores of every run, ours beside the paper's (``ablation_distribution``);
- (b) how far subnetworks are from the ideal score of 0.75, split into what they keep on the
  other subroutine and what they miss on their own (``gap_to_ideal``);
- (c) IoU of the two subroutines' masks per region of one base model, beside size-matched
  random masks and the paper's reported range (``overlap_table``, ``overlap_by_region``);
- (d) kept fraction per layer, one line per subroutine (``kept_by_layer``);
- (e) a decomposition grade per cell with a cluster-bootstrap interval (``graded_summary``).

``ours`` is a table of ``run_grid`` rows; ``paper`` is ``sclib.stats.reference.paper_runs()``. The
paper's runs are matched to ours by domain, task, subroutine and number variant (never by
architecture: our models are other, smaller ones), as in ``sclib.plots.modularity``.

>>> region_key("stage3") < region_key("stage4") < region_key("mlp")
True
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sclib.experiments.profiles import Cell
from sclib.models import ARCHITECTURES
from sclib.plots.modularity import (
    PAPER_LABEL,
    PRETRAINING_LABELS,
    TASK_LABELS,
    architecture_label,
    as_bool,
)
from sclib.stats.grading import ablation_distribution, gap_to_ideal, graded_summary
from sclib.stats.overlap import overlap_by_region
from sclib.stats.vocabulary import REGIMES

# ../PAPER.md, "Headline numbers", message 3, quoted: "partial overlap of subroutine masks:
# IoU ~0.03-0.12 in conv layers, 0.24-0.32 in the MLP". The PAPER's numbers, not ours, drawn
# as shaded bands labelled "paper" on the vision panel only (read here as the ResNets' conv
# stages and their MLP head: BERT has no conv layers).
PAPER_IOU_TEXT = "IoU ~0.03-0.12 in conv layers, 0.24-0.32 in the MLP"
PAPER_IOU_RANGES = {"conv": (0.03, 0.12), "mlp": (0.24, 0.32)}
PAPER_COLOR = "0.55"
REGIME_COLORS = {"scratch": "tab:blue", "pretrained": "tab:orange", "untrained": "tab:purple"}
REGIME_STYLES = {"scratch": "-", "pretrained": "--", "untrained": ":"}
GRADE_LABELS = {
    "random_corrected": "random-corrected grade",
    "zero_only": "zero-ablation-only grade",
}
_ORDER = {r: i for i, r in enumerate(REGIMES)}


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


# ----------------------------------------------------------------------------- tables


def labelled(ours: pd.DataFrame) -> pd.DataFrame:
    """Our rows with ``source`` = "ours (<profile> profile)" and a boolean ``excluded``."""
    out = ours.copy()
    out["source"] = out["profile"].map(lambda p: f"ours ({p} profile)")
    out["excluded"] = as_bool(out["excluded"]) if "excluded" in out else False
    return out


def matched_paper(paper: pd.DataFrame, ours: pd.DataFrame) -> pd.DataFrame:
    """The paper's runs of the domains, tasks, subroutines and variants we ran, regimes we know."""
    keys = ["domain", "task", "subroutine", "variant"]
    kept = paper[paper["regime"].isin(REGIMES)]
    return kept.merge(ours[keys].drop_duplicates(), on=keys).assign(source="paper")


def included_cells(rows: pd.DataFrame) -> list[Cell]:
    """The cells of the runs whose base model is not excluded, in the order of ``rows``."""
    fields = list(Cell.__dataclass_fields__)
    kept = rows[~as_bool(rows["excluded"])] if "excluded" in rows else rows
    return [Cell(**record) for record in kept[fields].to_dict("records")]  # Python ints


def _group(frame: pd.DataFrame) -> pd.Series:
    """The row label of panels (a) and (b): domain, source, regime (and its pretraining)."""

    def label(row: pd.Series) -> str:
        regime, pre = row["regime"], row.get("pretraining", "none")
        if regime == "pretrained" and isinstance(pre, str) and pre != "none":
            regime += f" ({PRETRAINING_LABELS.get(pre, pre)})"
        source = "paper" if row["source"] == "paper" else row["source"]
        return f"{row['domain']} · {source} · {regime}"

    return frame.apply(label, axis=1) if len(frame) else pd.Series(dtype=str)


def _group_order(frame: pd.DataFrame) -> list[str]:
    keys = frame.drop_duplicates("group")[["group", "domain", "source", "regime"]].copy()
    keys["d"] = keys["domain"].map({"vision": 0, "language": 1}).fillna(2)
    keys["s"] = keys["source"].eq("paper").astype(int)
    keys["r"] = keys["regime"].map(_ORDER)
    return keys.sort_values(["d", "s", "r", "group"])["group"].tolist()


def decomposition_tables(
    ours: pd.DataFrame,
    paper: pd.DataFrame | None,
    overlap: pd.DataFrame,
    kept: pd.DataFrame,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """The data of each panel, keyed "a" to "e".

    Args:
        ours: ``run_grid`` rows (every regime and seed).
        paper: ``sclib.stats.reference.paper_runs()`` (or None); matched by :func:`matched_paper`.
        overlap: per-layer ``overlap_table(..., across="subroutines")`` rows.
        kept: :func:`kept_table` rows.
        n_boot, seed: the cluster bootstrap of panel (e).

    Returns:
        a: one row per run and ablation (``zero``; ours also ``randomly_sampled``) with
        ``group``; b: ``gap_to_ideal`` per run with ``group``; c: ``overlap_by_region`` per
        pair of masks with ``domain``; d: ``kept`` as given; e: ``graded_summary`` per cell
        and grade variant (ours: random_corrected and zero_only; paper: zero_only), cells with
        no graded run left out. Excluded base models are left out throughout.
    """
    ours = labelled(ours)
    ours = ours[~ours["excluded"]]
    paper = matched_paper(paper, ours) if paper is not None and len(paper) else None
    both = pd.concat([ours, paper], ignore_index=True) if paper is not None else ours

    a = ablation_distribution(ours, paper, ablations=("zero", "randomly_sampled"))
    a["group"] = _group(a)
    b = gap_to_ideal(both)
    b["group"] = _group(b)

    c = pd.DataFrame(columns=["domain", "architecture", "regime", "region", "iou"])
    if len(overlap):
        c = overlap_by_region(overlap).rename(columns={"expected_iou": "random_expected_iou"})
        c.insert(0, "domain", c["architecture"].map(ARCHITECTURES))
    c["random_expected_iou"] = c.get("random_expected_iou", pd.Series(dtype=float))

    summaries = [graded_summary(ours, kind="auto", n_boot=n_boot, seed=seed)]
    summaries.append(graded_summary(ours, kind="zero_only", n_boot=n_boot, seed=seed))
    if paper is not None:
        summaries.append(graded_summary(paper, kind="zero_only", n_boot=n_boot, seed=seed))
    e = pd.concat(summaries, ignore_index=True)
    e = e[e["n_runs"] > 0].reset_index(drop=True)
    return {"a": a, "b": b, "c": c, "d": kept.copy(), "e": e}


def decomposition_csv(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every panel's data in one long table with a ``panel`` column (the figure's CSV)."""
    parts = [t.assign(panel=p) for p, t in tables.items() if len(t)]
    out = pd.concat(parts, ignore_index=True)
    return out[["panel", *[c for c in out.columns if c != "panel"]]]


def figure_numbers(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The few numbers the figure rests on, one small table per panel.

    a: per group and ablation, n runs, mean, median and quartiles of the ablation score;
    b: per group, mean gap to the ideal score and its two parts; c: per domain, architecture,
    regime and region, mean pooled IoU, mean random expectation, their ratio and the number
    of mask pairs; d: per domain, architecture, regime, subroutine and region, the pooled
    kept fraction (kept / size); e: the graded summaries.
    """
    out: dict[str, pd.DataFrame] = {}
    a = tables["a"]
    if len(a):
        out["a"] = (
            a.groupby(["group", "ablation"], sort=False)["score"]
            .describe()[["count", "mean", "25%", "50%", "75%"]]
            .rename(columns={"50%": "median"})
            .reset_index()
        )
    b = tables["b"]
    if len(b):
        cols = ["score_gap", "other_above_chance", "target_below_ideal"]
        out["b"] = b.groupby("group", sort=False)[cols].mean().reset_index()
    c = tables["c"]
    if len(c):
        by = ["domain", "architecture", "regime", "region"]
        out["c"] = (
            c.groupby(by, sort=False)
            .agg(
                iou=("iou", "mean"),
                random_expected_iou=("random_expected_iou", "mean"),
                n_pairs=("iou", "size"),
            )
            .reset_index()
        )
        out["c"]["iou_over_random"] = out["c"]["iou"] / out["c"]["random_expected_iou"]
    d = tables["d"]
    if len(d):
        by = ["domain", "architecture", "regime", "subroutine", "region"]
        sums = d.groupby(by, sort=False)[["kept", "size"]].sum()
        out["d"] = (sums["kept"] / sums["size"]).rename("kept_fraction").reset_index()
    if len(tables["e"]):
        out["e"] = tables["e"]
    return out


# ----------------------------------------------------------------------------- drawing


def _color(source: str, regime: str) -> Any:
    return PAPER_COLOR if source == "paper" else REGIME_COLORS.get(regime, "tab:green")


def _marker(label: str, **style) -> Line2D:
    """A legend entry: one marker, no line."""
    return Line2D([], [], linestyle="", label=label, **style)


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
        values,
        positions=[y],
        vert=False,
        widths=0.5,
        showfliers=False,
        manage_ticks=False,
        medianprops={"color": "black"},
        zorder=2,
        **lines,
    )


def _rows_axis(ax, groups: list[str]):
    ax.set_yticks(range(len(groups)), groups, fontsize=7)
    ax.set_ylim(len(groups) - 0.5, -0.5)
    ax.grid(axis="x", alpha=0.3)


def _group_rows(table: pd.DataFrame, groups: list[str]):
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
    ax.legend(
        handles=[
            _marker("zero ablation: runs, quartiles", marker="o", color="0.3"),
            _marker(
                "ours: size-matched random ablation (runs, mean)",
                marker="D",
                markerfacecolor="none",
                color="0.3",
            ),
        ],
        fontsize=7,
        loc="lower right",
        framealpha=0.8,
    )


def draw_gap_to_ideal(ax, b: pd.DataFrame, groups: list[str], rng) -> None:
    """Panel (b): mean gap to the ideal subnetwork score, split in its two parts; runs as dots."""
    for y, rows, color in _group_rows(b, groups):
        other = rows["other_above_chance"].mean()
        missed = rows["target_below_ideal"].mean()
        ax.barh(y, other, height=0.55, color=color, alpha=0.45, zorder=2)
        ax.barh(
            y,
            missed,
            left=other,
            height=0.55,
            color="none",
            edgecolor=color,
            hatch="///",
            linewidth=0.8,
            zorder=2,
        )
        dots = rows["other_above_chance"].to_numpy(float)
        jitter = rng.uniform(-0.12, 0.12, len(dots))
        ax.scatter(dots, y + jitter, s=10, color=color, alpha=0.6, linewidths=0, zorder=3)
    ax.axvline(0, color="black", linewidth=0.8, zorder=1)
    _rows_axis(ax, groups)
    ax.set_xlabel("gap to the ideal subnetwork score (0.75)", fontsize=8)
    ax.set_title(
        "(b) subnetworks stay above chance on the other subroutine", fontsize=9, loc="left"
    )
    ax.legend(
        handles=[
            Patch(facecolor="0.5", alpha=0.45, label="mean: above chance on the other subroutine"),
            Patch(
                facecolor="none",
                edgecolor="0.4",
                hatch="///",
                label="mean: below 1.0 on its own subroutine",
            ),
            _marker("runs: above chance on the other", marker="o", color="0.3"),
        ],
        fontsize=7,
        loc="lower right",
        framealpha=0.8,
    )


def draw_overlap(ax, c: pd.DataFrame, domain: str, architecture: str, rng) -> None:
    """Panel (c): pooled IoU per region, one series per regime, beside random and the paper."""
    rows = c[(c["domain"] == domain) & (c["architecture"] == architecture)]
    regions = sorted(rows["region"].unique(), key=region_key)
    x_of = {r: i for i, r in enumerate(regions)}
    band_labels = {
        kind: f"paper: IoU {low}-{high} ({'MLP' if kind == 'mlp' else 'conv layers'})"
        for kind, (low, high) in PAPER_IOU_RANGES.items()
    }
    for i, region in enumerate(regions):
        band = paper_iou_range(region) if domain == "vision" else None
        if band:
            label = band_labels.pop("mlp" if region == "mlp" else "conv", None)
            ax.fill_between(
                [i - 0.4, i + 0.4], *band, color=PAPER_COLOR, alpha=0.3, lw=0, label=label, zorder=1
            )
    for k, (regime, part) in enumerate(
        sorted(rows.groupby("regime"), key=lambda kv: _ORDER.get(kv[0], 9))
    ):
        color = REGIME_COLORS.get(regime, "tab:green")
        x = part["region"].map(x_of).to_numpy(float) + (k - 1) * 0.12
        ax.scatter(
            x + rng.uniform(-0.04, 0.04, len(x)),
            part["iou"],
            s=12,
            color=color,
            alpha=0.6,
            zorder=3,
        )
        means = part.groupby("region")[["iou", "random_expected_iou"]].mean()
        means = means.loc[[r for r in regions if r in means.index]]
        xs = means.index.map(x_of).to_numpy(float) + (k - 1) * 0.12
        ax.plot(
            xs,
            means["iou"],
            "o-",
            color=color,
            markeredgecolor="black",
            zorder=4,
            label=f"ours, {regime}: subroutine A vs B",
        )
        ax.plot(
            xs,
            means["random_expected_iou"],
            "D--",
            color=color,
            markerfacecolor="none",
            zorder=4,
            label=f"ours, {regime}: size-matched random masks",
        )
    ax.set_xticks(range(len(regions)), regions, fontsize=7)
    ax.set_xlim(-0.5, max(len(regions), 1) - 0.5)
    top = np.nanmax([*rows["iou"], *rows["random_expected_iou"], 0.0])
    ax.set_ylim(0, 1.15 * max(top, 0.32 if domain == "vision" else 0.05))
    ax.set_ylabel("IoU |A∩B| / |A∪B| (pooled per region)", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    note = "" if domain == "vision" else "; no paper range for language"
    ax.set_title(
        f"(c) {domain}: overlap of the two subroutines' masks, "
        f"{architecture_label(architecture, _size(rows))}{note}",
        fontsize=9,
        loc="left",
    )
    if len(rows):
        ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    else:
        ax.text(0.5, 0.5, "no pairs of masks", ha="center", transform=ax.transAxes)


def _size(rows: pd.DataFrame) -> str:
    profiles = set(rows["profile"]) if "profile" in rows and len(rows) else set()
    return "full" if profiles == {"full"} else "quick"


def _layer_order(rows: pd.DataFrame) -> list[str]:
    """Layers in network order: those of the run masking most layers, then any others."""
    runs = rows.groupby(["base_model_id", "subroutine", "mask_seed"], sort=False)
    longest = max((part for _, part in runs), key=len)
    order = longest.sort_values("position")["layer"].tolist()
    return order + [layer for layer in rows["layer"].unique() if layer not in set(order)]


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
            np.sort(xs),
            means.to_numpy()[np.argsort(xs)],
            marker=".",
            color=colors[sub],
            linestyle=REGIME_STYLES.get(regime, "-"),
            label=f"{sub}, {regime}",
        )
    regions = rows.drop_duplicates("layer").set_index("layer")["region"]
    starts = [
        i for i, layer in enumerate(order) if i == 0 or regions[layer] != regions[order[i - 1]]
    ]
    ax.set_xticks(starts, [regions[order[i]] for i in starts], fontsize=7)
    for s in starts[1:]:
        ax.axvline(s - 0.5, color="0.85", linewidth=0.8, zorder=0)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("masked layer, input to output (ticks: first layer of each region)", fontsize=8)
    ax.set_ylabel("kept fraction of the layer", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_title(
        f"(d) {domain}: where each subnetwork lives, {TASK_LABELS.get(task, task)}, "
        f"{architecture_label(architecture, _size(rows))}",
        fontsize=9,
        loc="left",
    )


def _grade_label(row: pd.Series) -> str:
    size = "full" if "full" in str(row["source"]) else "quick"
    arch = architecture_label(row["architecture"], "full" if row["source"] == "paper" else size)
    who = "paper" if row["source"] == "paper" else "ours"
    cell = f"{TASK_LABELS.get(row['task'], row['task'])} · {row['subroutine']}"
    if row.get("variant") not in (None, "none") and not pd.isna(row.get("variant")):
        cell += f" ({row['variant']})"
    return f"{cell}: {who}, {arch}, {row['regime']}"


def draw_grades(ax, e: pd.DataFrame, domain: str) -> None:
    """Panel (e): mean grade per cell with its cluster-bootstrap interval; variants labelled."""
    rows = e[e["domain"] == domain].copy()
    if not len(rows):
        ax.text(0.5, 0.5, "no graded runs", ha="center", transform=ax.transAxes)
        return
    rows["label"] = rows.apply(_grade_label, axis=1)
    rows["p"] = rows["source"].eq("paper").astype(int)
    rows["r"] = rows["regime"].map(_ORDER)
    rows = rows.sort_values(["task", "variant", "subroutine", "p", "architecture", "r"])
    labels = list(dict.fromkeys(rows["label"]))
    offsets = {"random_corrected": -0.15, "zero_only": 0.15}
    for row in rows.itertuples(index=False):
        y = labels.index(row.label) + (offsets[row.grade_kind] if row.p == 0 else 0.0)
        color = _color(row.source, row.regime)
        hollow = row.p == 0 and row.grade_kind == "zero_only"
        err = np.array([[row.grade_mean - row.grade_low], [row.grade_high - row.grade_mean]])
        face = "none" if hollow else color
        xerr = None if np.isnan(err).any() else err  # no interval with one base model
        ax.errorbar(
            row.grade_mean,
            y,
            xerr=xerr,
            fmt="s" if row.p else "o",
            color=color,
            markerfacecolor=face,
            capsize=2,
            markersize=5,
            zorder=3,
        )
    ax.axvline(0, color="black", linewidth=0.8, zorder=1)
    ax.axvline(1, color="0.6", linestyle=":", linewidth=0.8, zorder=1)  # a perfect decomposition
    _rows_axis(ax, labels)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel("decomposition grade (1: perfect; 0: no more selective than chance)", fontsize=8)
    ax.set_title(
        f"(e) {domain}: one grade per cell, mean and 95% cluster-bootstrap interval",
        fontsize=9,
        loc="left",
    )
    ax.legend(
        handles=[
            _marker(f"ours: {GRADE_LABELS['random_corrected']}", marker="o", color="0.3"),
            _marker(
                f"ours: {GRADE_LABELS['zero_only']}",
                marker="o",
                color="0.3",
                markerfacecolor="none",
            ),
            _marker(f"{PAPER_LABEL}: {GRADE_LABELS['zero_only']}", marker="s", color=PAPER_COLOR),
        ],
        fontsize=6.5,
        loc="lower left",
        framealpha=0.8,
    )


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
) -> Figure:
    """The five panels from :func:`decomposition_tables`.

    Rows: (a) and (b) side by side; then per domain (c) and (d); then (e) per domain.
    Colours are regimes (scratch blue, pretrained orange, untrained purple); grey is the paper.

    Args:
        focus: domain -> (task, architecture) drawn in (c) (all tasks of that architecture)
            and (d) (that task); by default the first of each domain's masks.
        seed: jitter of the dots.
    """
    rng = np.random.default_rng(seed)
    a, b, e = tables["a"], tables["b"], tables["e"]
    domains = [
        d
        for d in ("vision", "language")
        if d in set(b["domain"]) | set(tables["d"].get("domain", []))
    ]
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
        f"Shaded bands in (c): the paper's reported overlap ({PAPER_IOU_TEXT}), not ours.",
        fontsize=9,
    )
    return fig
