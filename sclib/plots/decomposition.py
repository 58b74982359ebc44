"""Figures 04, imperfect decomposition: the tables behind them; nothing here trains.

Used by ``notebooks/04_imperfect_decomposition.ipynb`` (Lepori et al., arXiv 2301.10884,
on imperfect decomposition). Five tables, each from one function of ``sclib.stats.grading``
or ``.overlap``, keyed by what they hold:

- ``ablation``: ablation scores of every run, ours beside the paper's (``ablation_distribution``);
- ``gap``: how far subnetworks are from the ideal score of 0.75, split into what they keep on
  the other subroutine and what they miss on their own (``gap_to_ideal``);
- ``overlap``: IoU of the two subroutines' masks per region of one base model, beside
  size-matched random masks and the paper's reported range (``overlap_table``,
  ``overlap_by_region``);
- ``kept``: kept fraction per layer, one line per subroutine (``kept_by_layer``);
- ``grades``: a decomposition grade per cell with a 95% interval (``graded_summary``: t(G-1)
  over base-model means below 6 base models, a cluster bootstrap from 6 on).

``ours`` is a table of ``run_grid`` rows; ``paper`` is ``sclib.stats.reference.paper_runs()``. The
paper's runs are matched to ours by domain, task, subroutine and number variant (never by
architecture: our models are other, smaller ones), as in ``sclib.plots.modularity``. The
figures, one message each, are :func:`sclib.plots.decomposition_figure.decomposition_figures`.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from sclib.models import ARCHITECTURES
from sclib.stats.grading import ablation_distribution, gap_to_ideal, graded_summary
from sclib.stats.overlap import overlap_by_region
from sclib.stats.vocabulary import PRETRAINING_LABELS, REGIMES, as_bool, ours_label


def labelled(ours: pd.DataFrame) -> pd.DataFrame:
    """Our rows with ``source`` = "ours (<profile> profile)" and a boolean ``excluded``."""
    out = ours.copy()
    out["source"] = out["profile"].map(ours_label)
    out["excluded"] = as_bool(out["excluded"]) if "excluded" in out else False
    return out


def matched_paper(paper: pd.DataFrame, ours: pd.DataFrame) -> pd.DataFrame:
    """The paper's runs of the domains, tasks, subroutines and variants we ran, regimes we know."""
    keys = ["domain", "task", "subroutine", "variant"]
    kept = paper[paper["regime"].isin(REGIMES)]
    return kept.merge(ours[keys].drop_duplicates(), on=keys).assign(source="paper")


def _group(frame: pd.DataFrame) -> pd.Series:
    """The row label of the ablation and gap tables: domain, source, regime (and pretraining)."""

    def label(row: pd.Series) -> str:
        regime, pre = row["regime"], row.get("pretraining", "none")
        if regime == "pretrained" and isinstance(pre, str) and pre != "none":
            regime += f" ({PRETRAINING_LABELS.get(pre, pre)})"
        source = "paper" if row["source"] == "paper" else row["source"]
        return f"{row['domain']} · {source} · {regime}"

    return frame.apply(label, axis=1) if len(frame) else pd.Series(dtype=str)


def decomposition_tables(
    ours: pd.DataFrame,
    paper: pd.DataFrame | None,
    overlap: pd.DataFrame,
    kept: pd.DataFrame,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """The data of the figures, keyed by what each table holds (``TABLES``).

    Args:
        ours: ``run_grid`` rows (every regime and seed).
        paper: ``sclib.stats.reference.paper_runs()`` (or None); matched by :func:`matched_paper`.
        overlap: per-layer ``overlap_table(..., across="subroutines")`` rows.
        kept: ``sclib.experiments.collect_masks.kept_table`` rows.
        n_boot, seed: the cluster bootstrap of the grades (from 6 base models on).

    Returns:
        ablation: one row per run and ablation (``zero``; ours also ``randomly_sampled``)
        with ``group``; gap: ``gap_to_ideal`` per run with ``group``; overlap:
        ``overlap_by_region`` per pair of masks with ``domain``; kept: ``kept`` as given;
        grades: ``graded_summary`` per cell and grade variant (ours: random_corrected and
        zero_only; paper: zero_only), cells with no graded run left out. Excluded base
        models are left out throughout.
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
    return {"ablation": a, "gap": b, "overlap": c, "kept": kept.copy(), "grades": e}


def figure_numbers(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The few numbers the figures rest on, one small table per table of ``tables``.

    ablation: per group and ablation, n runs, mean, median and quartiles of the ablation
    score; gap: per group, mean gap to the ideal score and its two parts; overlap: per domain,
    architecture, regime and region, mean pooled IoU, mean random expectation, their ratio and
    the number of mask pairs; kept: per domain, architecture, regime, subroutine and region,
    the pooled kept fraction (kept / size); grades: the graded summaries.
    """
    out: dict[str, pd.DataFrame] = {}
    a = tables["ablation"]
    if len(a):
        out["ablation"] = (
            a.groupby(["group", "ablation"], sort=False)["score"]
            .describe()[["count", "mean", "25%", "50%", "75%"]]
            .rename(columns={"50%": "median"})
            .reset_index()
        )
    b = tables["gap"]
    if len(b):
        cols = ["score_gap", "other_above_chance", "target_below_ideal"]
        out["gap"] = b.groupby("group", sort=False)[cols].mean().reset_index()
    c = tables["overlap"]
    if len(c):
        by = ["domain", "architecture", "regime", "region"]
        by += ["method"] if "method" in c else []  # single masks and seed intersections apart
        out["overlap"] = (
            c.groupby(by, sort=False)
            .agg(
                iou=("iou", "mean"),
                random_expected_iou=("random_expected_iou", "mean"),
                n_pairs=("iou", "size"),
            )
            .reset_index()
        )
        out["overlap"]["iou_over_random"] = (
            out["overlap"]["iou"] / out["overlap"]["random_expected_iou"]
        )
    d = tables["kept"]
    if len(d):
        out["kept"] = kept_by_region(d)
    if len(tables["grades"]):
        out["grades"] = tables["grades"]
    return out


def kept_by_region(kept: pd.DataFrame) -> pd.DataFrame:
    """Per domain, architecture, regime, subroutine and region the pooled kept fraction
    (kept / size over the region's layers and the runs)."""
    by = ["domain", "architecture", "regime", "subroutine", "region"]
    sums = kept.groupby(by, sort=False)[["kept", "size"]].sum()
    return (sums["kept"] / sums["size"]).rename("kept_fraction").reset_index()
