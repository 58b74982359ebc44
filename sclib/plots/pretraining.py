"""Figure 03, pretrained vs random initialisation and the untrained control: its tables.

Used by ``notebooks/03_pretrained_vs_random.ipynb`` (the paper's second message: pretrained
models produce modular subnetworks more reliably). ``ours`` is a table of
``sclib.experiments.runner.run_cell`` rows, ``paper`` the paper's runs
(``sclib.stats.reference.paper_runs()``). A *cell* is source x domain x regime x task x
subroutine x variant x architecture; its runs are the mask and base seeds. Nothing here
trains.

- ``cell_table``: per cell the mean scores and a two-sided test that the ablation score is
  0 (clustered by base model; NaN p-value = untestable, fewer than 2 base models): for ours
  t with G - 1 df (``sclib.stats.glm.ablation_test``), for the paper's cells the paper's own
  test (``sclib.stats.glm.paper_test``: z), each labelled in ``reference``.
- ``regime_table``: per domain x group x regime the means over cells and the *reliability*:
  the fraction of cells whose ablation score is significantly below 0.
- ``interaction_table``: per cell, does the ablation score differ between two regimes?

The figure, from ``cell_table``: ``sclib.plots.pretraining_figure.pretrained_vs_random_figure``.

The paper's cells are *matched* to ours by domain, task, subroutine and variant (never by
architecture: our models are other, smaller ones). The reliability is shown for the paper's
matched cells and for all its cells of the domain.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sclib.stats.reliability import cell_interactions, cell_tests
from sclib.stats.vocabulary import (
    CELL_COLUMNS,
    DOMAINS,
    PAPER_LABEL,
    PRETRAINING_NAMES,
    REGIMES,
    as_bool,
    ours_label,
)

# a cell: what its runs share; the last four are sclib.stats.vocabulary.CELL_COLUMNS
CELL_KEYS = ["source", "domain", "regime", "pretraining", *CELL_COLUMNS]
MATCH_KEYS = ["domain", "task", "subroutine", "variant"]
PAPER_SAME = f"{PAPER_LABEL}, tasks as ours"
PAPER_ALL = f"{PAPER_LABEL}, all its tasks"
RUN_COLUMNS = [
    *CELL_KEYS, "profile", "base_model_id", "excluded", "subnetwork_score", "ablation_score",
    "sampled_ablation_score", "sub_l0_fraction", "zero_abl_acc_target", "zero_abl_acc_other",
]  # fmt: skip


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
    ours["source"] = ours["profile"].map(ours_label)
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
    ``kept_fraction`` over the drawn runs; the two-sided test that the ablation score is 0
    (``se``, ``stat``, ``p_value``, ``reference``: ``"t(G-1)"`` for ours,
    ``sclib.stats.glm.ablation_test``; the paper's z for its cells, ``paper_test``, per
    number variant), ``significant`` (p < ``alpha`` and a negative mean ablation score),
    ``untestable`` (runs drawn but no p-value: fewer than 2 base models), and ``matched``
    (see ``regime_runs``).
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
        # source is in `by`, so the paper's cells get the paper's test (cell_tests, "auto")
        tests = cell_tests(drawn, by=by, cell=cell)
        tests = tests[CELL_KEYS + ["se", "stat", "p_value", "reference"]]
        table = table.merge(tests, on=CELL_KEYS, how="left")
    else:
        table = table.assign(se=np.nan, stat=np.nan, p_value=np.nan, reference="")
    table["n_base_models"] = table["n_base_models"].fillna(0).astype(int)
    table["significant"] = (table["p_value"] < alpha) & (table["ablation_score"] < 0)
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


def join_names(names: pd.Series) -> str:
    """The distinct non-empty names, sorted, comma-separated."""
    return ", ".join(sorted({n for n in names if n}))


def regime_table(cells: pd.DataFrame) -> pd.DataFrame:
    """Per domain x group x regime: means over cells and the reliability of the effect.

    Groups: each of our sources, the paper's cells matched to ours (``PAPER_SAME``) and all
    the paper's cells of the domain (``PAPER_ALL``). Cells with no run drawn are left out.
    Every cell weighs the same. ``fraction`` = ``n_significant`` / ``n_cells`` (significant:
    two-sided p < alpha and a negative mean ablation score; ours t(G-1), the paper's cells
    its own z test, per number variant: ``test`` names them); untestable cells count as not
    significant (as in ``sclib.stats.reliability.fraction_significant``).
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
        pretraining=("pretraining_name", join_names),
        n_cells=("n_runs", "size"),
        n_runs=("n_runs", "sum"),
        subnetwork_score=("subnetwork_score", "mean"),
        ablation_score=("ablation_score", "mean"),
        sampled_ablation_score=("sampled_ablation_score", "mean"),
        n_significant=("significant", "sum"),
        n_untestable=("untestable", "sum"),
        test=("reference", lambda r: ", ".join(sorted({v for v in r if isinstance(v, str) and v}))),
    )
    table["fraction"] = table["n_significant"] / table["n_cells"]
    return _sorted(table.reset_index(), keys)


def interaction_table(
    ours: pd.DataFrame, paper: pd.DataFrame, levels: tuple[str, str] = ("scratch", "pretrained")
) -> pd.DataFrame:
    """``sclib.stats.reliability.cell_interactions`` for ours and the paper's matched cells, a row a cell.

    ``coef`` is the mean ablation score of ``levels[1]`` minus that of ``levels[0]`` (negative:
    ``levels[1]`` more modular), two-sided, t with G - 1 df (G: base models of both regimes).
    Only cells run at both levels appear; an empty
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
