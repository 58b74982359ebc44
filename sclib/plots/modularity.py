"""Figures and the tables behind them, from tidy results tables; nothing here trains.

Used by ``notebooks/02_modularity_across_architectures.ipynb``. ``ours`` is a table of
``sclib.experiments.runner.run_cell`` rows (``run_grid``), ``paper`` the paper's runs in the same
vocabulary (``sclib.stats.reference.paper_runs()``). Our profiles use other models than the paper
(a small ResNet, MiniLM), so runs are matched to the paper's by domain, task, subroutine
(and number variant), never by architecture, and every architecture is labelled by name.

>>> architecture_label("resnet", "quick"), architecture_label("bert_small")
('ResNet (small)', 'BERT-small')
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sclib.provenance import provenance, runs_provenance

PAPER_LABEL = "paper (Lepori et al. 2023)"
FULL_LABEL = "ours (full profile)"
DOMAINS = ("vision", "language")
TRAINED_REGIMES = ("scratch", "pretrained")  # the paper's Figure: trained base models only
SCORES = {
    "subnetwork_score": "subnetwork score (expected > 0, ideal 0.75)",
    "ablation_score": "ablation score (expected < 0)",
}
SUMMARY_KEYS = ["domain", "task", "variant", "subroutine", "architecture", "regime", "source"]
# (architecture, model size) -> name; the paper's models are the "full" sizes
ARCHITECTURE_LABELS: dict[Any, str] = {
    ("resnet", "quick"): "ResNet (small)",
    ("resnet", "full"): "ResNet50",
    ("wide_resnet", "quick"): "WideResNet (small)",
    ("wide_resnet", "full"): "WideResNet50",
    "vit": "ViT",
    "efficientnet_lite0": "EfficientNet-Lite0",
    "bert_small": "BERT-small",
    "minilm": "MiniLM",
}
TASK_LABELS = {
    "inside_contact": "Inside-Contact",
    "inside_number": "Inside-Number",
    "number_contact": "Number-Contact",
    "sv_agreement": "SV-Agreement",
    "anaphora": "Anaphora",
}
PRETRAINING_LABELS = {"simclr": "SimCLR", "mlm": "MLM"}
PAPER_MARKERS = {"ResNet50": "o", "WideResNet50": "s", "BERT-small": "o"}


def architecture_label(architecture: str, size: str = "full") -> str:
    """The name of an architecture at a model size (``"quick"`` or ``"full"``)."""
    return ARCHITECTURE_LABELS.get(
        (architecture, size), ARCHITECTURE_LABELS.get(architecture, architecture)
    )


def as_bool(values: pd.Series) -> pd.Series:
    """A boolean column read back from memory or CSV (``"True"``/``"False"``, blanks)."""
    if values.dtype == bool:
        return values
    return values.map(lambda v: str(v).strip().lower() in ("true", "1", "1.0"))


def _series_label(row: pd.Series) -> str:
    """The legend name of a run's group: source, architecture by name, regime."""
    if row["source"] == "paper":
        regime = row["regime"]
        if regime == "pretrained":
            regime += f" ({PRETRAINING_LABELS.get(row['pretraining'], row['pretraining'])})"
        return f"{PAPER_LABEL}: {architecture_label(row['architecture'])}, {regime}"
    size = "full" if row["profile"] == "full" else "quick"
    return f"{row['source']}: {architecture_label(row['architecture'], size)}, {row['regime']}"


def tidy_runs(
    ours: pd.DataFrame,
    paper: pd.DataFrame,
    full: pd.DataFrame | None = None,
    pool_variants: bool = False,
) -> pd.DataFrame:
    """Our runs, the full-profile runs and the matching paper runs in one frame.

    Adds ``source`` (``"ours (<profile> profile)"``, ``FULL_LABEL`` or ``"paper"``) and
    ``label`` (the legend name). The paper's runs are kept where their domain, task,
    subroutine and variant occur among ours, and only for trained base models
    (``TRAINED_REGIMES``). ``pool_variants`` pools singular and plural under ``"pooled"``,
    as the paper's language figures do. Excluded runs stay, flagged in ``excluded``.
    """
    parts = []
    for frame, source in ((ours, None), (full, FULL_LABEL)):
        if frame is None or len(frame) == 0:
            continue
        frame = frame.copy()
        if "profile" not in frame:
            frame["profile"] = "full" if source else "quick"
        frame["source"] = source or frame["profile"].map(lambda p: f"ours ({p} profile)")
        frame["excluded"] = as_bool(frame["excluded"]) if "excluded" in frame else False
        parts.append(frame)
    if not parts:
        raise ValueError("no runs of ours to draw: `ours` (and `full`) are empty")
    runs = pd.concat(parts, ignore_index=True)
    if "sampled_ablation_score" not in runs:
        runs["sampled_ablation_score"] = np.nan
    keys = ["domain", "task", "subroutine", "variant"]
    if pool_variants:
        runs["variant"] = runs["variant"].where(runs["domain"] != "language", "pooled")
    matched = paper[paper["regime"].isin(TRAINED_REGIMES)].copy()
    if pool_variants:
        matched["variant"] = matched["variant"].where(matched["domain"] != "language", "pooled")
    matched = matched.merge(runs[keys].drop_duplicates(), on=keys)
    matched["source"], matched["profile"], matched["excluded"] = "paper", np.nan, False
    matched["sampled_ablation_score"] = np.nan
    columns = [
        *keys, "architecture", "regime", "pretraining", "source", "profile", "base_model_id",
        "subnetwork_score", "ablation_score", "sampled_ablation_score", "sub_l0_fraction",
        "excluded",
    ]  # fmt: skip
    both = pd.concat([runs.reindex(columns=columns), matched.reindex(columns=columns)])
    both = both.reset_index(drop=True)
    both["label"] = both.apply(_series_label, axis=1)
    return both


def summary_table(
    ours: pd.DataFrame,
    paper: pd.DataFrame,
    full: pd.DataFrame | None = None,
    pool_variants: bool = False,
) -> pd.DataFrame:
    """Means per domain/task/variant/subroutine/architecture/regime/source: the figure's data.

    ``n_runs`` counts the runs drawn, ``n_excluded`` those left out (base model below the
    profile's exclusion threshold); the means are over the runs drawn, NaNs skipped.
    ``sampled_ablation_score`` (size-matched random ablation) exists for ours only.
    """
    runs = tidy_runs(ours, paper, full, pool_variants)
    runs["kept_fraction"] = runs["sub_l0_fraction"]
    shown = runs[~runs["excluded"]]
    means = shown.groupby(SUMMARY_KEYS + ["label"], dropna=False)[
        ["subnetwork_score", "ablation_score", "sampled_ablation_score", "kept_fraction"]
    ].mean()
    counts = runs.groupby(SUMMARY_KEYS + ["label"], dropna=False).agg(
        n_runs=("excluded", lambda e: int((~e).sum())), n_excluded=("excluded", "sum")
    )
    table = counts.join(means).reset_index()
    order = {s: i for i, s in enumerate(_source_order(table["source"]))}
    order.update({d: i for i, d in enumerate(DOMAINS)})
    table = table.sort_values(
        ["domain", "task", "variant", "subroutine", "source", "label"],
        key=lambda c: (
            c.map(lambda v: order.get(v, len(order))) if c.name in ("domain", "source") else c
        ),
    )
    return table.reset_index(drop=True)


def _source_order(sources: pd.Series) -> list[str]:
    ours = sorted(s for s in sources.unique() if s not in (FULL_LABEL, "paper"))
    return ours + [s for s in (FULL_LABEL, "paper") if s in set(sources)]


def _x_label(task: str, subroutine: str, variant: str) -> str:
    label = f"{TASK_LABELS.get(task, task)}\n{subroutine.capitalize()}"
    return label if variant in ("none", "") or pd.isna(variant) else f"{label}\n({variant})"


def _style(label: str, source: str, index: int, paper_index: int) -> dict[str, Any]:
    if source == "paper":
        arch = label.split(": ", 1)[1].split(",")[0]
        grey = ("0.55", "0.35", "0.7", "0.45")[paper_index % 4]
        marker = "^" if "pretrained" in label else PAPER_MARKERS.get(arch, "o")
        return {"color": grey, "marker": marker}
    return {
        "color": plt.get_cmap("tab10")(index % 10),
        "marker": "s" if source == FULL_LABEL else "o",
    }


def _draw_group(ax, pos: float, values: np.ndarray, style: dict, width: float, rng, hollow=False):
    """Runs as jittered dots and their mean as a bigger marker with a black edge."""
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return
    x = pos + rng.uniform(-width / 4, width / 4, len(values))
    face = "none" if hollow else style["color"]
    ax.scatter(
        x,
        values,
        s=14,
        marker=style["marker"],
        facecolors=face,
        edgecolors=style["color"],
        alpha=0.7,
        linewidths=0.8,
        zorder=3,
    )
    ax.scatter(
        [pos],
        [values.mean()],
        s=70,
        marker="D" if hollow else style["marker"],
        zorder=4,
        facecolors=face,
        edgecolors=style["color"] if hollow else "black",
        linewidths=1.4,
    )


def _draw_panel(ax, runs: pd.DataFrame, xs: list, series: list[str], styles: dict, score: str, rng):
    """One panel: per x (task, subroutine, variant) a slot per series, then the guides."""
    width = 0.8 / max(len(series), 1)
    for i, (task, sub, variant) in enumerate(xs):
        at = runs[
            (runs["task"] == task) & (runs["subroutine"] == sub) & (runs["variant"] == variant)
        ]
        for k, label in enumerate(series):
            group = at[at["label"] == label]
            pos = i - 0.4 + (k + 0.5) * width
            _draw_group(ax, pos, group[score].to_numpy(float), styles[label], width, rng)
            if score == "ablation_score" and not group["source"].eq("paper").all():
                hollow = group["sampled_ablation_score"].to_numpy(float)
                _draw_group(ax, pos + width / 3, hollow, styles[label], width / 2, rng, True)
    ax.axhline(0, color="black", linewidth=0.8, zorder=1)
    if score == "subnetwork_score":
        ax.axhline(0.75, color="0.6", linestyle=":", linewidth=0.8, zorder=1)  # the ideal
    ax.set_xticks(range(len(xs)), [_x_label(*x) for x in xs], fontsize=8)
    ax.set_xlim(-0.5, len(xs) - 0.5)
    ax.set_ylim(-0.8, 0.8)
    ax.grid(axis="y", alpha=0.3)


def modularity_figure(
    ours: pd.DataFrame,
    paper: pd.DataFrame,
    full: pd.DataFrame | None = None,
    pool_variants: bool = False,
    seed: int = 0,
) -> Figure:
    """Subnetwork and ablation scores per task x subroutine x architecture, ours beside the paper's.

    One row of panels per domain present in ours (or ``full``); left the subnetwork score,
    right the ablation score. Within each task/subroutine: our runs per architecture and
    regime as dots with a mean marker, the size-matched random ablation
    (``sampled_ablation_score``) as hollow markers on the ablation panel, the full-profile
    runs if given, then the paper's runs of that task and subroutine in grey. Excluded
    runs are not drawn but counted in the title.

    Args:
        ours: ``run_grid`` rows.
        paper: ``sclib.stats.reference.paper_runs()``.
        full: committed full-profile rows (``data/results/``), drawn as ``FULL_LABEL``.
        pool_variants: pool singular and plural, as the paper's language figures do.
        seed: the horizontal jitter of the dots.
    """
    runs = tidy_runs(ours, paper, full, pool_variants)
    rng = np.random.default_rng(seed)
    own = runs[runs["source"] != "paper"]
    domains = [d for d in DOMAINS if d in set(own["domain"])]
    domains += sorted(set(own["domain"]) - set(domains))
    labels = runs.drop_duplicates("label").sort_values(
        "source", key=lambda c: c.map({s: i for i, s in enumerate(_source_order(c))})
    )[["label", "source"]]
    styles, paper_seen = {}, 0
    for i, (label, source) in enumerate(labels.itertuples(index=False)):
        styles[label] = _style(label, source, i, paper_seen)
        paper_seen += source == "paper"

    n_x = max(
        len(own[own["domain"] == d].groupby(["task", "subroutine", "variant"])) for d in domains
    )
    fig, axes = plt.subplots(
        len(domains), 2, figsize=(3.2 + 2.0 * n_x, 3.4 * len(domains) + 0.9), squeeze=False
    )
    for row, domain in enumerate(domains):
        xs = own[own["domain"] == domain][["task", "subroutine", "variant"]].drop_duplicates()
        xs = list(xs.itertuples(index=False))  # in the order of the runs (cells(profile))
        here = runs[(runs["domain"] == domain) & ~runs["excluded"]]
        series = [
            lab for lab in labels["label"] if lab in set(runs[runs["domain"] == domain]["label"])
        ]
        for col, score in enumerate(SCORES):
            _draw_panel(axes[row, col], here, xs, series, styles, score, rng)
            axes[row, col].set_title(f"{domain}: {SCORES[score]}", fontsize=9)
        axes[row, 0].set_ylabel("score")

    handles = [
        Line2D(
            [],
            [],
            linestyle="",
            markersize=7,
            markeredgecolor="black",
            markerfacecolor=s["color"],
            marker=s["marker"],
            label=lab,
        )
        for lab, s in styles.items()
    ]
    handles.append(
        Line2D(
            [],
            [],
            linestyle="",
            marker="D",
            markersize=7,
            markerfacecolor="none",
            markeredgecolor="black",
            label="ours: size-matched random ablation (mean, runs)",
        )
    )
    legend_below(fig, handles)
    counts = [
        f"{source}: {int((~part['excluded']).sum())} runs drawn, "
        f"{int(part['excluded'].sum())} excluded"
        for source, part in own.groupby("source", sort=False)
    ]
    fig.suptitle(
        f"Modularity across architectures and domains. {'; '.join(counts)} (excluded: base "
        f"model below the profile's exclusion threshold).\nGrey: {PAPER_LABEL}, same task and "
        "subroutine, their architectures. Dots: runs; big markers: means.",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def legend_below(fig: Figure, handles: list) -> None:
    """One legend for the whole figure, in two columns under the panels."""
    fig.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize=8,
        frameon=False,
    )  # fmt: skip


def save_figure(
    fig: Figure, stem: str | Path, data: pd.DataFrame, runs: pd.DataFrame | None = None
) -> list[Path]:
    """Write ``<stem>.png`` (150 dpi), ``<stem>.pdf`` and the data behind it, ``<stem>.csv``.

    With ``runs`` (our run rows the figure rests on), also ``<stem>.provenance.json``: the
    profiles, seeds, devices, torch versions, git revisions and wall time of those runs,
    and the device and torch version that drew the figure. Folders are created; files carry no creation dates, so
    reruns give identical bytes. Returns the paths written.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(s) for s in (".png", ".pdf", ".csv")]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(paths[1], bbox_inches="tight", metadata={"Creator": None, "CreationDate": None})
    data.to_csv(paths[2], index=False, float_format="%.6g")
    if runs is not None:
        # the runs' git revisions, not the drawing's: redrawing from the same runs (as
        # `make test` does) must not change the committed files
        drawn_with = {k: v for k, v in provenance().items() if k != "git_rev"}
        record = {"runs": runs_provenance(runs), "drawn_with": drawn_with}
        paths.append(stem.with_name(stem.name + ".provenance.json"))
        paths[-1].write_text(json.dumps(record, indent=1, default=str) + "\n")
    return paths


def base_model_table(ours: pd.DataFrame) -> pd.DataFrame:
    """One row per base model: its accuracies (convergence) and whether it was excluded.

    ``pm_<subroutine>_acc`` is the base model's accuracy on that subroutine's "+/-" test set
    and ``subroutine_<subroutine>_acc`` on its subroutine (mask-training) test set, where
    a model that solves the compositional task should be near chance (0.25).

    >>> rows = pd.DataFrame({"base_model_id": ["a", "a"], "domain": "vision",
    ...     "task": "inside_contact", "architecture": "resnet", "regime": "scratch",
    ...     "variant": "none", "base_seed": 0, "base_comp_test_acc": 0.99,
    ...     "subroutine": ["inside", "contact"], "other_subroutine": ["contact", "inside"],
    ...     "base_pm_target_acc": [0.98, 0.97], "base_pm_other_acc": [0.97, 0.98],
    ...     "base_subroutine_acc": [0.3, 0.26], "excluded": False})
    >>> base_model_table(rows)[["pm_inside_acc", "pm_contact_acc"]].values.tolist()
    [[0.98, 0.97]]
    """
    records = []
    for base_id, runs in ours.groupby("base_model_id", sort=False):
        first = runs.iloc[0]
        record = {"base_model_id": base_id}
        for key in ("domain", "task", "architecture", "regime", "variant", "base_seed"):
            record[key] = first.get(key)
        record["base_comp_test_acc"] = first["base_comp_test_acc"]
        for run in runs.itertuples(index=False):
            record[f"pm_{run.subroutine}_acc"] = run.base_pm_target_acc
            record[f"pm_{run.other_subroutine}_acc"] = run.base_pm_other_acc
        for run in runs.itertuples(index=False):
            if "base_subroutine_acc" in runs:
                record[f"subroutine_{run.subroutine}_acc"] = run.base_subroutine_acc
        excluded = as_bool(runs["excluded"])
        record["n_runs"] = len(runs)
        record["excluded"] = bool(excluded.any())
        if "exclusion_note" in runs:
            notes = runs["exclusion_note"].fillna("").astype(str)
            record["exclusion_note"] = next((n for n in notes if n), "")
        records.append(record)
    return pd.DataFrame(records)


def verdicts(summary: pd.DataFrame, margin: float = 0.1) -> pd.DataFrame:
    """A plain verdict per group of our runs in a ``summary_table``.

    "shows the effect" when the mean subnetwork score exceeds ``margin`` and the mean
    ablation score lies at least ``margin`` below the mean size-matched random ablation
    score; otherwise "does not show the effect at this scale" (or "no runs drawn").

    >>> s = pd.DataFrame({"source": ["ours (quick profile)", "paper"], "n_runs": [3, 9],
    ...     "subnetwork_score": [0.5, 0.6], "ablation_score": [-0.3, -0.2],
    ...     "sampled_ablation_score": [0.0, float("nan")]})
    >>> verdicts(s)["verdict"].tolist()
    ['shows the effect']
    """
    ours = summary[summary["source"] != "paper"].copy()
    found = ours["subnetwork_score"] > margin
    effect = ours["ablation_score"] <= ours["sampled_ablation_score"] - margin
    ours["verdict"] = np.where(
        found & effect, "shows the effect", "does not show the effect at this scale"
    )
    ours.loc[ours["n_runs"] == 0, "verdict"] = "no runs drawn (all excluded)"
    return ours.reset_index(drop=True)


def describe_profile(profile: Any, cell_list: list | None = None) -> str:
    """What a profile runs, in a few lines (sizes, training, and each cell)."""
    lines = [
        f"{profile.domain}/{profile.name}: {profile.n_train} training problems, "
        f"{profile.n_subroutine} per subroutine set, {profile.n_val} validation and "
        f"{profile.n_test} test problems per set"
        + (f", {profile.image_size} px images" if profile.image_size else ""),
        f"  model size {profile.model_size}{' ' + str(dict(profile.model_kwargs)) if profile.model_kwargs else ''}; base training "
        f"{profile.base.epochs} epochs, mask training {profile.mask.epochs} epochs; "
        f"mask grid of {len(profile.grid())} point(s), lambdas "
        f"{', '.join(f'{x:g}' for x in sorted(profile.lambdas, reverse=True))} walked down "
        f"until a subnetwork passes; exclusion threshold "
        f"{profile.exclusion_threshold}",
    ]
    if cell_list is not None:
        lines.append(f"  {len(cell_list)} cells:")
        lines += [
            f"    {c.task}/{c.subroutine} · {c.architecture} · {c.regime} · {c.variant} · "
            f"base seed {c.base_seed} · mask seed {c.mask_seed}"
            for c in cell_list
        ]
    return "\n".join(lines)
