"""Figure 02, modularity across architectures, and the tables behind it; nothing here trains.

Used by ``notebooks/02_modularity_across_architectures.ipynb``. ``ours`` is a table of
``sclib.experiments.runner.run_cell`` rows (``run_grid``), ``paper`` the paper's runs in the same
vocabulary (``sclib.stats.reference.paper_runs()``). Our profiles use other models than the paper
(a small ResNet, MiniLM), so runs are matched to the paper's by domain, task, subroutine
(and number variant), never by architecture, and every architecture is labelled by name.
"""

from __future__ import annotations

import textwrap
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sclib.plots.findings import ablation_finding, cells_finding, subnetwork_finding
from sclib.plots.style import (
    COLORS,
    HOLLOW_DIAMOND,
    MARKERS,
    MAX_WIDTH_IN,
    PAPER_COLOR,
    RANDOM_ABLATION,
    SCORE_NAMES,
    SCORES,
    domain_order,
    exclusion_counts,
    figure_title,
    has_variant,
    legend_below,
    panel_letters,
    panel_title,
    regime_color,
    themed,
)
from sclib.stats.vocabulary import (
    DOMAINS,
    PAPER_LABEL,
    PRETRAINING_LABELS,
    TASK_LABELS,
    TRAINED_REGIMES,
    architecture_label,
    as_bool,
    ours_label,
)

FULL_LABEL = ours_label("full")
SUMMARY_KEYS = ["domain", "task", "variant", "subroutine", "architecture", "regime", "source"]
PAPER_MARKERS = {"resnet": "o", "wide_resnet": "s", "bert_small": "o"}


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
        frame["source"] = source or frame["profile"].map(ours_label)
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
        "excluded", "mask_passed",
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
    return f"{label}\n({variant})" if has_variant(variant) else label


def _style(source: str, architecture: str, regime: str, markers: dict) -> dict[str, Any]:
    """Ours: the regime's colour, a marker per (source, architecture); the paper's: grey."""
    if source == "paper":
        marker = "^" if regime == "pretrained" else PAPER_MARKERS.get(architecture, "o")
        return {"color": PAPER_COLOR, "marker": marker}
    key = (source, architecture)
    markers.setdefault(key, MARKERS[len(markers) % len(MARKERS)])
    return {"color": regime_color(regime), "marker": markers[key]}


def _draw_group(ax, pos: float, values: np.ndarray, style: dict, width: float, rng, hollow=False):
    """Runs as jittered dots and their mean as a bigger marker with a black edge."""
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return
    x = pos + rng.uniform(-width / 4, width / 4, len(values))
    face = "none" if hollow else style["color"]
    edge = COLORS["random"] if hollow else style["color"]
    marker = "D" if hollow else style["marker"]
    ax.scatter(
        x, values, s=14, marker=marker, facecolors=face, edgecolors=edge, alpha=0.7,
        linewidths=0.8, zorder=3,
    )  # fmt: skip
    ax.scatter(
        [pos], [values.mean()], s=70, marker=marker, zorder=4, facecolors=face,
        edgecolors=COLORS["random"] if hollow else "black", linewidths=1.4,
    )  # fmt: skip


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
    labels = [_x_label(*x) for x in xs]
    if len(xs) > 4:  # three vision tasks: the task name over two lines, so neighbours do not meet
        labels = [label.replace("-", "-\n", 1) for label in labels]
    ax.set_xticks(range(len(xs)), labels)
    ax.set_xlim(-0.5, len(xs) - 0.5)
    ax.set_ylim(-0.8, 0.8)
    ax.grid(axis="x", visible=False)


def _series_styles(runs: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Legend name -> colour and marker, in legend order: ours, the full profile, the paper's."""
    labels = runs.drop_duplicates("label").sort_values(
        "source", key=lambda c: c.map({s: i for i, s in enumerate(_source_order(c))})
    )[["label", "source", "architecture", "regime"]]
    styles: dict[str, dict[str, Any]] = {}
    markers: dict[tuple[str, str], str] = {}
    for label, source, architecture, regime in labels.itertuples(index=False):
        styles[label] = _style(source, architecture, regime, markers)
    return styles


def _panel_finding(drawn: pd.DataFrame, score: str) -> str:
    """The finding of one panel from our runs drawn there (subnetwork or ablation score)."""
    if score == "subnetwork_score":
        return subnetwork_finding(drawn[score].mean())
    return ablation_finding(
        drawn[score].mean(), random_score=drawn["sampled_ablation_score"].mean()
    )


def _draw_domain(axes, runs: pd.DataFrame, domain: str, styles: dict, rng, letters) -> None:
    """One row of panels: the subnetwork score left, the ablation score right."""
    own = runs[(runs["source"] != "paper") & (runs["domain"] == domain)]
    xs = own[["task", "subroutine", "variant"]].drop_duplicates()
    xs = list(xs.itertuples(index=False))  # in the order of the runs (cells(profile))
    here = runs[(runs["domain"] == domain) & ~runs["excluded"]]
    drawn = here[here["source"] != "paper"]
    series = [lab for lab in styles if lab in set(runs[runs["domain"] == domain]["label"])]
    for col, score in enumerate(SCORES):
        _draw_panel(axes[col], here, xs, series, styles, score, rng)
        finding = textwrap.fill(_panel_finding(drawn, score), 46)
        panel_title(axes[col], letters[col], f"{domain}, {SCORE_NAMES[score]}:\n{finding}")
        axes[col].set_ylabel(SCORES[score])


def _legend_entries(styles: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    entries = [
        (label, {"marker": s["marker"], "markerfacecolor": s["color"], "markeredgecolor": "black"})
        for label, s in styles.items()
    ]
    entries.append((f"{RANDOM_ABLATION} (mean, runs)", HOLLOW_DIAMOND))
    return [(label, {**style, "markersize": 7}) for label, style in entries]


def _finding(own: pd.DataFrame) -> str:
    """How many of our cells show the effect (``verdicts``), per domain."""
    counts = {}
    for domain in domain_order(own["domain"]):
        here = own[(own["domain"] == domain) & ~own["excluded"]]
        summary = here.groupby(
            ["source", "task", "variant", "subroutine", "architecture", "regime"]
        )
        table = summary[["subnetwork_score", "ablation_score", "sampled_ablation_score"]].mean()
        table = table.assign(n_runs=summary.size()).reset_index()
        found = verdicts(table)["verdict"].eq("shows the effect") if len(table) else []
        counts[domain] = (int(sum(found)), len(table))
    return cells_finding(counts)


def _details(own: pd.DataFrame) -> list[str]:
    """The title's lines of details: our runs drawn and excluded per source, then the key."""
    counts = [
        f"{source}: {exclusion_counts(part)}" for source, part in own.groupby("source", sort=False)
    ]
    key = (
        f"Colour: regime; grey: {PAPER_LABEL}, same task and subroutine, its architectures. "
        "Dots: runs; big markers: means."
    )
    return [*counts, key]


@themed
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
    runs are not drawn but counted in the title. Colour is the regime (``style.COLORS``);
    the title states how many of our cells show the effect (``verdicts``), each panel's
    title what our mean score there shows (``sclib.plots.findings``).

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
    domains = domain_order(own["domain"])
    styles = _series_styles(runs)
    n_x = max(
        len(own[own["domain"] == d].groupby(["task", "subroutine", "variant"])) for d in domains
    )
    width = min(MAX_WIDTH_IN, max(8.0, 3.2 + 2.0 * n_x))
    fig, axes = plt.subplots(
        len(domains), 2, figsize=(width, 3.9 * len(domains) + 1.2), squeeze=False
    )
    letters = panel_letters(2 * len(domains))
    for row, domain in enumerate(domains):
        _draw_domain(axes[row], runs, domain, styles, rng, letters[2 * row : 2 * row + 2])
    legend_below(fig, _legend_entries(styles))
    figure_title(fig, _finding(own), *_details(own))
    fig.tight_layout()
    return fig


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
