"""The committed ``standard`` runs, cell by cell: the README's table, computed, not typed.

One row per (task, architecture, regime, number variant) of
``data/results/standard/runs.csv``: which base seeds the cell includes (``sclib.experiments
.seeds``: the first three that pass, spares standing in), which it excluded and why (a base
model's compositional test accuracy below the criterion; an untrained control whose
trained twin's seed is not included; a mask search where no subnetwork passed), and per
subroutine the mean subnetwork and ablation scores over the included runs, with the
ablation score's p-value from the paper's GLM (``sclib.plots.pretraining.cell_table``:
clustered by base model, t(G-1)). Below it, the Ablation x Regime contrasts
(``regime_contrasts``) and the paper's mask overlap where the profile trains three mask
seeds (``intersected_iou``, from the ``overlap.csv`` beside the runs).
``python -m sclib.stats.standard_summary`` prints it all and rewrites the README's block;
``tests/test_standard_summary.py`` fails when the two differ.
"""

from __future__ import annotations

import pandas as pd

from sclib.readme_blocks import NOT_COMMITTED, markers, replace_block
from sclib.stats.vocabulary import REGIMES, TASK_LABELS, architecture_label

README_START, README_END = markers("standard", "python -m sclib.stats.standard_summary")
GROUP = ["domain", "task", "architecture", "regime", "variant"]
DOMAIN_ORDER = {"vision": 0, "language": 1}
TASK_ORDER = list(TASK_LABELS)  # the paper's order: vision tasks, then SV agreement, anaphora
# why a run is excluded -> how the table names it (``sclib.experiments.runner``, ``seeds``)
REASONS = {
    "base model below the exclusion threshold": "base",
    "its trained twin's base seed is not included": "twin",
    "no subnetwork passed": "no mask passed",
}


def _seed_list(seeds) -> str:
    return ", ".join(str(int(s)) for s in sorted(set(seeds))) or "none"


def _excluded(rows: pd.DataFrame) -> str:
    """The excluded base seeds of one cell and why: ``2 (base 0.756)``, ``2 (twin)``,
    ``1 (no mask passed: antecedent)``; spare seeds that were not needed are not listed."""
    parts = []
    out = rows[rows["excluded"] & rows["exclusion_reason"].isin(REASONS)]
    for seed, seed_rows in out.groupby("base_seed"):
        reason = seed_rows["exclusion_reason"].iloc[0]
        if REASONS[reason] == "base":
            parts.append(f"{int(seed)} (base {seed_rows['base_comp_test_acc'].iloc[0]:.3f})")
        elif REASONS[reason] == "twin":
            parts.append(f"{int(seed)} (twin)")
        else:
            subs = ", ".join(sorted(seed_rows["subroutine"].unique()))
            parts.append(f"{int(seed)} (no mask passed: {subs})")
    return "; ".join(parts) or "none"


def _p(value: float) -> str:
    return "p < 0.001" if value < 0.001 else f"p {value:.3f}"


def _signed(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{value:+.2f}"


def _ablation(row: pd.Series) -> str:
    if pd.isna(row["ablation_score"]):
        return "n/a"
    text = _signed(row["ablation_score"])
    if pd.notna(row["p_value"]):
        return f"{text} ({_p(row['p_value'])})"
    return f"{text} (se 0)" if row["se"] == 0 else text


def standard_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per cell of ``runs`` (a committed table read with ``collect.read_table``):
    ``included`` and ``excluded`` base seeds, ``subroutines``, and per subroutine in the
    task's order (joined by " / ") ``runs`` drawn, ``subnetwork`` and ``ablation (p)``."""
    from sclib.plots.pretraining import cell_table
    from sclib.stats.reference import paper_runs
    from sclib.tasks import get_task

    if runs.empty:
        raise ValueError("no runs: the standard table is empty")
    per_cell = cell_table(runs, paper_runs())
    per_cell = per_cell[per_cell["source"] != "paper"].set_index([*GROUP, "subroutine"])
    rows = []
    for key, cell in runs.groupby(GROUP, sort=False):
        domain, task, arch, regime, variant = key
        subs = [s for s in get_task(task).subroutines if s in set(cell["subroutine"])]
        stats = [per_cell.loc[(*key, s)] for s in subs]
        rows.append(
            {
                "domain": domain,
                "task": TASK_LABELS.get(task, task),
                "architecture": architecture_label(arch, "quick"),
                "regime": regime,
                "variant": variant,
                "included": _seed_list(cell.loc[~cell["excluded"], "base_seed"]),
                "excluded": _excluded(cell),
                "subroutines": " / ".join(s.capitalize() for s in subs),
                "runs": " / ".join(str(int(s["n_runs"])) for s in stats),
                "subnetwork": " / ".join(_signed(s["subnetwork_score"]) for s in stats),
                "ablation (p)": " / ".join(_ablation(s) for s in stats),
                "_order": (
                    DOMAIN_ORDER.get(domain, 2),
                    _task_rank(task),
                    arch,
                    REGIMES.index(regime) if regime in REGIMES else 9,
                    variant,
                ),
            }
        )
    table = pd.DataFrame(rows).sort_values("_order", kind="stable")
    return table.drop(columns="_order").reset_index(drop=True)


CONTRASTS = (("scratch", "pretrained"), ("scratch", "untrained"))


def regime_contrasts(runs: pd.DataFrame) -> pd.DataFrame:
    """The Ablation x Regime interactions of ``runs`` (``sclib.plots.pretraining
    .interaction_table``: a regime's mean ablation score minus the scratch one's, t(G-1)
    over the base models of both), one row per (task, architecture, variant) with a column
    per contrast in ``CONTRASTS``, per subroutine in the task's order (" / ")."""
    from sclib.plots.pretraining import interaction_table
    from sclib.stats.reference import paper_runs
    from sclib.tasks import get_task

    parts = [interaction_table(runs, paper_runs(), levels) for levels in CONTRASTS]
    found = pd.concat([p for p in parts if len(p)]) if any(len(p) for p in parts) else None
    if found is None:
        return pd.DataFrame(columns=["task", "architecture", "variant"])
    found = found[found["source"] != "paper"]
    keys = ["domain", "task", "architecture", "variant"]
    rows = []
    for (domain, task, arch, variant), cell in found.groupby(keys, sort=False):
        row = {
            "domain": domain,
            "task": TASK_LABELS.get(task, task),
            "architecture": architecture_label(arch, "quick"),
            "variant": variant,
            "_order": (DOMAIN_ORDER.get(domain, 2), _task_rank(task), arch, variant),
        }
        subs = [s for s in get_task(task).subroutines if s in set(cell["subroutine"])]
        row["subroutines"] = " / ".join(s.capitalize() for s in subs)
        for _, level in CONTRASTS:
            texts = []
            for sub in subs:
                hit = cell[(cell["subroutine"] == sub) & (cell["contrast"] == f"{level} - scratch")]
                texts.append("n/a" if hit.empty else _difference(hit.iloc[0]))
            row[f"{level} - scratch"] = " / ".join(texts)
        rows.append(row)
    table = pd.DataFrame(rows).sort_values("_order", kind="stable")
    return table.drop(columns="_order").reset_index(drop=True)


def _task_rank(task: str) -> int:
    return TASK_ORDER.index(task) if task in TASK_ORDER else len(TASK_ORDER)


def _difference(row: pd.Series) -> str:
    text = _signed(row["coef"])
    return f"{text} ({_p(row['p_value'])})" if pd.notna(row["p_value"]) else text


def intersected_iou(overlap: pd.DataFrame) -> pd.DataFrame:
    """The paper's mask overlap from a committed ``overlap.csv``: rows of method
    ``intersect_seeds`` (each subroutine's masks intersected over its mask seeds, then the
    IoU of the two intersections), pooled per region and base model
    (``sclib.stats.overlap.overlap_by_region``: summed intersections over summed unions),
    then over base models: ``iou`` as "mean (min-max)", ``random`` the pooled IoU of random
    masks of the same sizes (mean), ``base_models``, ``mask_seeds``."""
    from sclib.stats.overlap import overlap_by_region

    columns = ["task", "architecture", "regime", "region", "base_models", "mask_seeds"]
    columns += ["iou", "random"]
    if overlap is None or "method" not in overlap:
        return pd.DataFrame(columns=columns)
    rows = overlap[overlap["method"] == "intersect_seeds"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    pooled = overlap_by_region(rows)
    seeds = rows.groupby("base_model_id")[["n_seeds_a", "n_seeds_b"]].min().min(axis=1)
    pooled["mask_seeds"] = pooled["base_model_id"].map(seeds)
    out = []
    for (task, arch, regime, region), part in pooled.groupby(
        ["task", "architecture", "regime", "region"], sort=False
    ):
        out.append({
            "task": TASK_LABELS.get(task, task),
            "architecture": architecture_label(arch, "quick"),
            "regime": regime,
            "region": region,
            "base_models": part["base_model_id"].nunique(),
            "mask_seeds": f"{int(part['mask_seeds'].min())}-{int(part['mask_seeds'].max())}"
            if part["mask_seeds"].nunique() > 1 else str(int(part["mask_seeds"].iloc[0])),
            "iou": f"{part['iou'].mean():.3f} ({part['iou'].min():.3f}-{part['iou'].max():.3f})",
            "random": f"{part['expected_iou'].mean():.3f}",
            "_order": (_task_rank(task), arch, regime, part["position"].min()),
        })  # fmt: skip
    table = pd.DataFrame(out).sort_values("_order", kind="stable")
    return table.drop(columns="_order").reset_index(drop=True)


def _band(region: str) -> str:
    from sclib.plots.decomposition_layers import PAPER_IOU_RANGES

    low, high = PAPER_IOU_RANGES[region]
    return f"{low:.2f}-{high:.2f}"


def _markdown(intro: str, frame: pd.DataFrame, columns: list[str], head: list[str]) -> list[str]:
    """A paragraph, then ``frame``'s ``columns`` as a Markdown table headed ``head``."""
    lines = [intro, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(str(row[c]) for c in columns) + " |")
    return lines


def summary_markdown(
    table: pd.DataFrame,
    n_runs: int,
    contrasts: pd.DataFrame | None = None,
    iou: pd.DataFrame | None = None,
) -> str:
    """The table as Markdown, headed by how many runs it reads; then, when given, the
    regime contrasts (``regime_contrasts``) and the mask overlap (``intersected_iou``)."""
    columns = ["task", "architecture", "regime", "variant", "included", "excluded",
               "subroutines", "runs", "subnetwork", "ablation (p)"]  # fmt: skip
    lines = _markdown(
        f"{n_runs} runs in `data/results/standard/runs.csv`; per subroutine, the mean over the "
        "included runs (every mask seed of every included base seed) and the ablation "
        "score's two-sided p-value (the paper's GLM, clustered by base model, t(G-1); "
        "`se 0`: every run scored the same).",
        table,
        columns,
        ["base seeds included" if c == "included" else c for c in columns],
    )
    if contrasts is not None and len(contrasts):
        columns = ["task", "architecture", "variant", "subroutines"]
        columns += [f"{level} - scratch" for _, level in CONTRASTS]
        lines += [""] + _markdown(
            "Ablation x Regime: a regime's mean ablation score minus the scratch one's, per "
            "subroutine (negative: that regime's subnetworks more modular), two-sided p "
            "(t(G-1) over the base models of both regimes); cells with both regimes only.",
            contrasts,
            columns,
            columns,
        )
    if iou is not None and len(iou):
        columns = ["task", "architecture", "regime", "region", "base_models", "mask_seeds"]
        columns += ["iou", "random"]
        lines += [""] + _markdown(
            "Mask overlap, the paper's measure: each subroutine's masks intersected over its "
            "mask seeds, the IoU of the two intersections pooled per region (summed "
            "intersections over summed unions), over the cell's included base models; "
            "beside it the IoU of random masks of the same sizes. The paper (its own "
            f"numbers): {_band('conv')} in conv layers, {_band('mlp')} in the MLP.",
            iou,
            columns,
            [*columns[:-2], "IoU of the intersections: mean (min-max)", "random masks"],
        )
    return "\n".join(lines) + "\n"


def committed_summary(results_dir=None) -> tuple | None:
    """The summary of the committed standard table, its number of runs, its regime
    contrasts (``regime_contrasts``) and its mask overlap (``intersected_iou``, from the
    ``overlap.csv`` beside it); None if absent."""
    from sclib.experiments.collect import read_table
    from sclib.experiments.collect_masks import committed_mask_tables
    from sclib.paths import RESULTS_DIR

    folder = RESULTS_DIR if results_dir is None else results_dir
    runs = read_table(folder / "standard" / "runs.csv")
    if runs is None:
        return None
    tables = committed_mask_tables("standard", folder)
    iou = intersected_iou(tables[0] if tables is not None else None)
    return standard_summary(runs), len(runs), regime_contrasts(runs), iou


def readme_body(found: tuple | None) -> str:
    """What the README's block holds for ``committed_summary()``'s answer."""
    return NOT_COMMITTED if found is None else summary_markdown(*found)


def main() -> int:
    """``python -m sclib.stats.standard_summary``: print the table, rewrite the README's block."""
    from sclib.paths import ROOT

    body = readme_body(committed_summary())
    print(body, end="")
    changed = replace_block(ROOT / "README.md", README_START, README_END, body)
    print("README.md", "updated" if changed else "already up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
