"""Pretrained vs random initialisation, and the untrained control: tables and the figure.

Used by ``notebooks/03_pretrained_vs_random.ipynb`` (the paper's second message: pretrained
models produce modular subnetworks more reliably). ``ours`` is a table of
``sclib.experiments.runner.run_cell`` rows, ``paper`` the paper's runs
(``sclib.stats.reference.paper_runs()``). A *cell* is source x domain x regime x task x
subroutine x variant x architecture; its runs are the mask and base seeds. Nothing here
trains.

- ``cell_table``: per cell the mean scores and the paper's GLM test that the ablation score
  is below 0 (clustered by base model; NaN p-value = untestable, fewer than 2 base models).
- ``regime_table``: per domain x group x regime the means over cells and the *reliability*:
  the fraction of cells whose ablation score is significantly below 0.
- ``interaction_table``: per cell, does the ablation score differ between two regimes?
- ``pretrained_vs_random_figure``: the figure, from ``cell_table``.

The paper's cells are *matched* to ours by domain, task, subroutine and variant (never by
architecture: our models are other, smaller ones). The reliability is shown for the paper's
matched cells and for all its cells of the domain.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sclib.plots.modularity import (
    DOMAINS,
    PAPER_LABEL,
    SCORES,
    TASK_LABELS,
    architecture_label,
    as_bool,
    legend_below,
)
from sclib.stats.glm import cell_interactions, cell_tests
from sclib.stats.vocabulary import CELL_COLUMNS

REGIMES = ("scratch", "pretrained", "untrained")  # as sclib.experiments.runner.REGIMES; no "pruned"
# a cell: what its runs share; the last four are sclib.stats.vocabulary.CELL_COLUMNS
CELL_KEYS = ["source", "domain", "regime", "pretraining", *CELL_COLUMNS]
LINE_KEYS = ["source", "task", "subroutine", "variant", "architecture"]  # a line in the figure
MATCH_KEYS = ["domain", "task", "subroutine", "variant"]
PAPER_SAME = f"{PAPER_LABEL}, tasks as ours"
PAPER_ALL = f"{PAPER_LABEL}, all its tasks"
# pretraining -> name; the paper calls its BERT-small checkpoint "LM-pretrained"
PRETRAINING_NAMES = {
    "ours": {"simclr": "SimCLR", "mlm": "MLM", "minilm": "MiniLM weights", "imagenet": "ImageNet"},
    "paper": {"simclr": "SimCLR", "mlm": "LM"},
}
RUN_COLUMNS = [
    *CELL_KEYS, "profile", "base_model_id", "excluded", "subnetwork_score", "ablation_score",
    "sampled_ablation_score", "sub_l0_fraction", "zero_abl_acc_target", "zero_abl_acc_other",
]  # fmt: skip


def _ours_label(profile: Any) -> str:
    return f"ours ({profile} profile)"


def regime_runs(ours: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Our runs and the paper's runs of the same domains, regimes scratch/pretrained/untrained.

    Adds ``source`` (``"ours (<profile> profile)"`` or ``"paper"``) and ``matched``: for
    ours always True, for the paper whether the run's domain, task, subroutine and variant
    occur among ours. The paper's "pruned" regime is left out. Excluded runs stay, flagged.
    """
    if len(ours) == 0:
        raise ValueError("no runs of ours: `ours` is empty (run_grid returned no rows)")
    ours = ours.copy()
    if "profile" not in ours:
        ours["profile"] = "quick"
    ours["source"] = ours["profile"].map(_ours_label)
    ours["excluded"] = as_bool(ours["excluded"]) if "excluded" in ours else False
    ours["matched"] = True
    theirs = paper[paper["regime"].isin(REGIMES) & paper["domain"].isin(set(ours["domain"]))]
    theirs = theirs.copy()
    theirs["source"], theirs["profile"], theirs["excluded"] = "paper", np.nan, False
    keys = ours[MATCH_KEYS].drop_duplicates().assign(matched=True)
    theirs = theirs.merge(keys, on=MATCH_KEYS, how="left")
    theirs["matched"] = theirs["matched"].eq(True)
    columns = [*RUN_COLUMNS, "matched"]
    runs = pd.concat([ours.reindex(columns=columns), theirs.reindex(columns=columns)])
    return runs.reset_index(drop=True)


def cell_table(ours: pd.DataFrame, paper: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """One row per cell (``CELL_KEYS``), ours and the paper's: the figure's data.

    Columns: ``n_runs`` (drawn), ``n_excluded``, ``n_base_models``; mean
    ``subnetwork_score``, ``ablation_score``, ``sampled_ablation_score`` (ours only) and
    ``kept_fraction`` over the drawn runs; the one-sided test that the ablation score is
    below 0 (``sclib.stats.glm.ablation_test``: ``se``, ``z``, ``p_value``), ``significant``
    (p < ``alpha``), ``untestable`` (runs drawn but no p-value: fewer than 2 base models),
    and ``matched`` (see ``regime_runs``).
    """
    runs = regime_runs(ours, paper)
    drawn = runs[~runs["excluded"]]
    counts = runs.groupby(CELL_KEYS, dropna=False).agg(
        n_runs=("excluded", lambda e: int((~e).sum())),
        n_excluded=("excluded", "sum"),
        matched=("matched", "all"),
    )
    means = drawn.groupby(CELL_KEYS, dropna=False).agg(
        n_base_models=("base_model_id", "nunique"),
        subnetwork_score=("subnetwork_score", "mean"),
        ablation_score=("ablation_score", "mean"),
        sampled_ablation_score=("sampled_ablation_score", "mean"),
        kept_fraction=("sub_l0_fraction", "mean"),
    )
    table = counts.join(means).reset_index()
    if len(drawn):
        by, cell = CELL_KEYS[:4], CELL_KEYS[4:]
        tests = cell_tests(drawn, by=by, cell=cell, alternative="less")
        tests = tests[CELL_KEYS + ["se", "stat", "p_value"]].rename(columns={"stat": "z"})
        table = table.merge(tests, on=CELL_KEYS, how="left")
    else:
        table = table.assign(se=np.nan, z=np.nan, p_value=np.nan)
    table["n_base_models"] = table["n_base_models"].fillna(0).astype(int)
    table["significant"] = table["p_value"] < alpha
    table["untestable"] = table["p_value"].isna() & (table["n_runs"] > 0)
    table["pretraining_name"] = [
        _pretraining_name(s, p) for s, p in zip(table["source"], table["pretraining"], strict=True)
    ]
    return _sorted(table, ["domain", "source", "regime", "task", "variant", "subroutine"])


def _sorted(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    def rank(column: pd.Series) -> pd.Series:
        order = {"domain": DOMAINS, "regime": REGIMES}.get(column.name)
        if column.name in ("source", "group"):
            paper = ["paper", PAPER_SAME, PAPER_ALL]
            order = sorted(v for v in column.unique() if v not in paper) + paper
        if order is None:
            return column
        return column.map(lambda v: list(order).index(v) if v in order else len(order))

    return table.sort_values(keys, key=rank, kind="stable").reset_index(drop=True)


def _pretraining_name(source: str, pretraining: Any) -> str:
    if pd.isna(pretraining) or pretraining == "none":
        return ""
    return PRETRAINING_NAMES["paper" if source == "paper" else "ours"].get(pretraining, pretraining)


def _joined(names: pd.Series) -> str:
    return ", ".join(sorted({n for n in names if n}))


def regime_table(cells: pd.DataFrame) -> pd.DataFrame:
    """Per domain x group x regime: means over cells and the reliability of the effect.

    Groups: each of our sources, the paper's cells matched to ours (``PAPER_SAME``) and all
    the paper's cells of the domain (``PAPER_ALL``). Cells with no run drawn are left out.
    Every cell weighs the same. ``fraction`` = ``n_significant`` / ``n_cells``; untestable
    cells count as not significant (as in ``sclib.stats.glm.fraction_significant``).
    """
    ours = cells[cells["source"] != "paper"]
    paper = cells[cells["source"] == "paper"]
    groups = pd.concat(
        [
            ours.assign(group=ours["source"]),
            paper[paper["matched"]].assign(group=PAPER_SAME),
            paper.assign(group=PAPER_ALL),
        ]
    )
    groups = groups[groups["n_runs"] > 0]
    keys = ["domain", "group", "regime"]
    table = groups.groupby(keys).agg(
        pretraining=("pretraining_name", _joined),
        n_cells=("n_runs", "size"),
        n_runs=("n_runs", "sum"),
        subnetwork_score=("subnetwork_score", "mean"),
        ablation_score=("ablation_score", "mean"),
        sampled_ablation_score=("sampled_ablation_score", "mean"),
        n_significant=("significant", "sum"),
        n_untestable=("untestable", "sum"),
    )
    table["fraction"] = table["n_significant"] / table["n_cells"]
    return _sorted(table.reset_index(), keys)


def interaction_table(
    ours: pd.DataFrame, paper: pd.DataFrame, levels: tuple[str, str] = ("scratch", "pretrained")
) -> pd.DataFrame:
    """``sclib.stats.glm.cell_interactions`` for ours and the paper's matched cells, one row per cell.

    ``coef`` is the mean ablation score of ``levels[1]`` minus that of ``levels[0]`` (negative:
    ``levels[1]`` more modular), two-sided. Only cells run at both levels appear; an empty
    table when there are none. ``min_base_models`` is the smaller number of base models of the
    two regimes; below 2 ``interaction_test`` gives the difference of the mean ablation
    scores and no ``se``, ``stat`` or ``p_value`` (untestable).
    """
    runs = regime_runs(ours, paper)
    runs = runs[~runs["excluded"] & runs["matched"]]
    keys = ["domain", *CELL_COLUMNS]
    parts = []
    for source, part in runs.groupby("source", sort=False):
        if not set(levels) <= set(part["regime"]):
            continue
        result = cell_interactions(part, levels=levels, cell=keys)
        if len(result):
            per_level = part[part["regime"].isin(levels)].groupby([*keys, "regime"])
            fewest = per_level["base_model_id"].nunique().groupby(keys).min()
            result = result.merge(fewest.rename("min_base_models").reset_index(), on=keys)
            parts.append(result.assign(source=source, contrast=f"{levels[1]} - {levels[0]}"))
    columns = ["source", "contrast", *keys, "coef", "se", "stat", "p_value", "n_runs"]
    columns += ["n_clusters", "min_base_models"]
    if not parts:
        return pd.DataFrame(columns=columns)
    return _sorted(pd.concat(parts)[columns], ["domain", "source"])


# ---------------------------------------------------------------------------- the figure


def _cell_name(task: str, subroutine: str, variant: Any) -> str:
    label = f"{TASK_LABELS.get(task, task)} {subroutine.capitalize()}"
    if variant not in ("none", "") and not pd.isna(variant):
        label += f" ({variant})"
    return label


def _tick(regime: str, here: pd.DataFrame) -> str:
    lines = [regime]
    for who in ("ours", "paper"):
        at = here[(here["regime"] == regime) & here["source"].eq("paper").eq(who == "paper")]
        if len(at) == 0 or (at["n_runs"] == 0).all():
            lines.append(f"{who}: {'all excluded' if len(at) else 'not run'}")
        elif regime == "pretrained":
            lines.append(f"{who}: {_joined(at['pretraining_name'])}")
    return "\n".join(lines)


def _score_panel(ax, cells: pd.DataFrame, regimes: list[str], score: str, colors: dict) -> None:
    """Cell means joined across regimes; ours left of each regime, the paper's right."""
    x_of = {r: i for i, r in enumerate(regimes)}
    for offset, is_paper in ((-0.17, False), (0.17, True)):
        part = cells[cells["source"].eq("paper") == is_paper]
        groups = list(part.groupby(LINE_KEYS, sort=False))
        for k, (key, cell) in enumerate(groups):
            cell = cell[cell["regime"].isin(regimes)]
            cell = cell.sort_values("regime", key=lambda c: c.map(x_of))
            spread = 0.16 * ((k + 0.5) / len(groups) - 0.5)
            xs = cell["regime"].map(x_of).to_numpy(float) + offset + spread
            color = "0.6" if is_paper else colors[key]
            marker = "s" if key[-1] == "wide_resnet" else "o"
            ax.plot(
                xs,
                cell[score],
                color=color,
                marker=marker,
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
        for regime, at in part.groupby("regime"):
            if regime in x_of and at[score].notna().any():
                x = x_of[regime] + offset
                ax.hlines(
                    at[score].mean(),
                    x - 0.13,
                    x + 0.13,
                    color="black" if not is_paper else "0.35",
                    linewidth=2.5,
                    zorder=5,
                )
    ax.axhline(0, color="black", linewidth=0.8, zorder=1)
    if score == "subnetwork_score":
        ax.axhline(0.75, color="0.6", linestyle=":", linewidth=0.8, zorder=1)  # the ideal
    ax.set_xlim(-0.5, len(regimes) - 0.5)
    ax.set_ylim(-0.8, 0.8)
    ax.grid(axis="y", alpha=0.3)


BAR_STYLES = {"ours": "tab:blue", PAPER_SAME: "0.5", PAPER_ALL: "0.8"}


def _reliability_panel(ax, table: pd.DataFrame, regimes: list[str], groups: list[str]) -> None:
    """Per regime a bar per group: fraction significant, hatched on top: fraction untestable."""
    width = 0.8 / len(groups)
    for i, regime in enumerate(regimes):
        for k, group in enumerate(groups):
            x = i - 0.4 + (k + 0.5) * width
            at = table[(table["regime"] == regime) & (table["group"] == group)]
            color = BAR_STYLES.get(group, BAR_STYLES["ours"])
            if len(at) == 0:
                ax.text(x, 0.02, "no runs", rotation=90, ha="center", va="bottom", fontsize=7)
                continue
            row = at.iloc[0]
            untestable = row["n_untestable"] / row["n_cells"]
            ax.bar(x, row["fraction"], width * 0.9, color=color, edgecolor="black", linewidth=0.5)
            ax.bar(
                x,
                untestable,
                width * 0.9,
                bottom=row["fraction"],
                facecolor="none",
                edgecolor=color,
                hatch="///",
                linewidth=0.5,
            )
            text = f"{int(row['n_significant'])}/{int(row['n_cells'])}"
            if row["n_untestable"]:
                text += f"\n({int(row['n_untestable'])} u.)"
            ax.text(
                x, row["fraction"] + untestable + 0.02, text, ha="center", va="bottom", fontsize=6.5
            )
    ax.set_xticks(range(len(regimes)), regimes, fontsize=8)
    ax.set_xlim(-0.5, len(regimes) - 0.5)
    ax.set_ylim(0, 1.25)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.grid(axis="y", alpha=0.3)


def pretrained_vs_random_figure(cells: pd.DataFrame, alpha: float = 0.05) -> Figure:
    """Subnetwork and ablation scores per regime, paired by cell, and the reliability.

    One row per domain of ours. Left two panels: per regime (scratch, pretrained, untrained)
    the cell means of ours (coloured, left) and of the paper's matched cells (grey, right),
    a line joining each task x subroutine (x architecture) across regimes, a thick bar at
    the mean over cells, and ours' size-matched random ablation as hollow diamonds. Right
    panel: the fraction of cells whose ablation score is significantly below 0, for ours,
    the paper's matched cells and all the paper's cells; hatched: the untestable share.

    Args:
        cells: ``cell_table(ours, paper, alpha)``.
        alpha: the significance level used there (for the title only).
    """
    own = cells[cells["source"] != "paper"]
    domains = [d for d in DOMAINS if d in set(own["domain"])]
    domains += sorted(set(own["domain"]) - set(domains))
    drawn = cells[cells["matched"] & (cells["n_runs"] > 0)]
    keys = own[LINE_KEYS].drop_duplicates().itertuples(index=False, name=None)
    colors = {key: plt.get_cmap("tab10")(i % 10) for i, key in enumerate(keys)}
    table = regime_table(cells)
    groups = [*sorted(set(own["source"])), PAPER_SAME, PAPER_ALL]

    fig, axes = plt.subplots(
        len(domains),
        3,
        figsize=(15, 3.9 * len(domains) + 1.6),
        squeeze=False,
        gridspec_kw={"width_ratios": [1.25, 1.25, 1]},
    )
    for row, domain in enumerate(domains):
        here = cells[cells["domain"] == domain]
        regimes = [r for r in REGIMES if r in set(here.loc[here["n_runs"] > 0, "regime"])]
        for col, score in enumerate(SCORES):
            ax = axes[row, col]
            _score_panel(ax, drawn[drawn["domain"] == domain], regimes, score, colors)
            ax.set_xticks(range(len(regimes)), [_tick(r, here) for r in regimes], fontsize=7.5)
            ax.set_title(f"{domain}: {SCORES[score]}", fontsize=9)
        axes[row, 0].set_ylabel("score (mean per cell)")
        ax = axes[row, 2]
        _reliability_panel(ax, table[table["domain"] == domain], regimes, groups)
        ax.set_title(f"{domain}: cells with ablation score < 0 (p < {alpha})", fontsize=9)
        ax.set_ylabel("fraction of cells")

    handles = [
        Line2D(
            [],
            [],
            color=c,
            marker="o",
            markeredgecolor="black",
            markersize=5,
            label=f"{key[0]}: {_cell_name(*key[1:4])}, {architecture_label(key[4], _size(key[0]))}",
        )
        for key, c in colors.items()
    ]
    paper_archs = sorted(set(drawn.loc[drawn["source"] == "paper", "architecture"]))
    handles += [
        Line2D(
            [],
            [],
            color="0.6",
            marker="s" if a == "wide_resnet" else "o",
            markersize=5,
            label=f"{PAPER_LABEL}: {architecture_label(a)}",
        )
        for a in paper_archs
    ]
    handles += [
        Line2D(
            [],
            [],
            linestyle="",
            marker="D",
            markerfacecolor="none",
            markeredgecolor="black",
            label="ours: size-matched random ablation (cell mean)",
        ),
        Line2D(
            [], [], color="black", linewidth=2.5, label="mean over cells (ours black, paper grey)"
        ),
        *[
            Patch(facecolor=BAR_STYLES.get(g, BAR_STYLES["ours"]), edgecolor="black", label=g)
            for g in groups
        ],
        Patch(
            facecolor="none",
            edgecolor="black",
            hatch="///",
            label="untestable (u.): fewer than 2 base models, no clustered test",
        ),
    ]
    legend_below(fig, handles)
    counts = [
        f"{source}: {int(part['n_runs'].sum())} runs in {int((part['n_runs'] > 0).sum())} cells "
        f"drawn, {int(part['n_excluded'].sum())} excluded"
        for source, part in own.groupby("source", sort=False)
    ]
    fig.suptitle(
        f"Pretrained vs random initialisation and the untrained control. {'; '.join(counts)}.\n"
        f"Lines join the same task x subroutine (x architecture) across regimes; grey: "
        f"{PAPER_LABEL}, same tasks and subroutines, their architectures. Significance: the "
        "paper's GLM, errors clustered by base model.",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def _size(source: str) -> str:
    """The model size of a source's architectures: the paper's sizes only in the full profile."""
    return "full" if source == _ours_label("full") else "quick"


def describe_regimes(profile: Any, cell_list: list) -> str:
    """Which regimes run per architecture, and what "pretrained" means for each.

    ``cell_list``: ``sclib.experiments.runner.cells(profile, regimes=...)``, which leaves out the
    pretrained cells the profile cannot pretrain; those are named here with the reason.
    """
    from sclib.experiments.runner import PRETRAINING

    lines = [f"{profile.domain}/{profile.name}: regimes per architecture"]
    for arch in dict.fromkeys(c.architecture for c in cell_list) or profile.architectures:
        ran = [
            r for r in REGIMES if any(c.architecture == arch and c.regime == r for c in cell_list)
        ]
        method = PRETRAINING.get(arch)
        names = {**PRETRAINING_NAMES["ours"], "minilm": "MiniLM's published weights"}
        note = f"pretrained = {names.get(method, method)}" if method else "no pretraining exists"
        if "pretrained" not in ran and method in ("simclr", "mlm"):
            note += f" (skipped: profile has no {method} config)"
        n = sum(c.architecture == arch for c in cell_list)
        lines.append(
            f"  {architecture_label(arch, profile.model_size)}: {', '.join(ran)}; {note}; {n} cells"
        )
    return "\n".join(lines)
