"""How the ablation score moves along the lambda ladder (issue #12: lambda sensitivity).

Used by ``notebooks/04_imperfect_decomposition.ipynb``. The search keeps the first rung
whose subnetwork passes on validation and never looks at ablations; this figure shows what
every rung would have given, beside the size-matched random ablation, so a reader sees
whether the selected lambda sits where the effect is, or where it is not.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sclib.plots.style import HOLLOW_DIAMOND, legend_below
from sclib.stats.vocabulary import TASK_LABELS, architecture_label, as_bool

CELL_LABEL = ["domain", "task", "architecture", "regime", "subroutine", "variant"]


def _title(row: pd.Series) -> str:
    variant = "" if row.get("variant", "none") in ("none", None) else f" ({row['variant']})"
    return (
        f"{TASK_LABELS.get(row['task'], row['task'])}: {row['subroutine']}{variant}\n"
        f"{architecture_label(row['architecture'], 'quick')}, {row['regime']}"
    )


def _panel(ax, rows: pd.DataFrame) -> None:
    rows = rows.sort_values("l0_lambda")
    lam = rows["l0_lambda"].to_numpy()
    passed = as_bool(rows["mask_passed"]).to_numpy()
    ax.axhline(0, color="0.6", lw=0.8)
    ax.plot(lam, rows["ablation_score"], "-o", color="black", label="zero ablation")
    ax.plot(lam, rows["sampled_ablation_score"], "--", color="0.4", **HOLLOW_DIAMOND)
    ax.scatter(lam[~passed], rows["ablation_score"].to_numpy()[~passed], s=60, marker="x",
               color="tab:red", zorder=3)  # fmt: skip
    selected = np.flatnonzero(passed)
    if len(selected):  # the search walks down from the largest lambda: the first that passes
        ax.axvline(lam[selected[-1]], color="tab:green", lw=1.5, alpha=0.6)
    kept = ax.twinx()
    kept.plot(lam, 100 * rows["kept_fraction"], ":", color="tab:blue")
    kept.set_ylabel("kept (% of the masked region)", color="tab:blue", fontsize=8)
    kept.set_yscale("symlog", linthresh=0.1)
    ax.set_xscale("log")
    ax.set_xlabel("L0 lambda")
    ax.set_ylabel("ablation score")
    ax.set_ylim(-0.8, 0.8)
    ax.set_title(_title(rows.iloc[0]), fontsize=9)


def lambda_sensitivity_figure(table: pd.DataFrame) -> Figure:
    """One panel per cell of ``runner.sensitivity_table``: ablation scores along the ladder.

    Black: zero ablation; grey dashed, hollow: the size-matched random ablation; red x: rungs
    whose subnetwork did not pass on validation; green line: the rung the search selects (the
    largest lambda that passes); blue dotted (right axis): kept fraction.
    """
    groups = list(table.groupby([c for c in CELL_LABEL if c in table], sort=False))
    fig, axes = plt.subplots(1, max(1, len(groups)), figsize=(5.2 * max(1, len(groups)), 4))
    for ax, (_, rows) in zip(np.atleast_1d(axes), groups, strict=False):
        _panel(ax, rows)
    entries = [
        ("zero ablation", {"kind": "line", "color": "black", "marker": "o"}),
        ("size-matched random ablation", {"kind": "line", "color": "0.4", "linestyle": "--",
                                          **HOLLOW_DIAMOND}),
        ("subnetwork did not pass", {"marker": "x", "color": "tab:red"}),
        ("selected rung", {"kind": "line", "color": "tab:green"}),
        ("kept fraction (right axis)", {"kind": "line", "color": "tab:blue", "linestyle": ":"}),
    ]  # fmt: skip
    legend_below(fig, entries)
    fig.suptitle(
        "Lambda sensitivity: the ablation score at every rung of the ladder (the search never "
        "sees it; it keeps the largest lambda that passes on validation)",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0.02, 1, 0.92))
    return fig
