"""How the ablation score moves along the lambda ladder (issue #12: lambda sensitivity).

Used by ``notebooks/04_imperfect_decomposition.ipynb``. The search keeps the first rung
whose subnetwork passes on validation and never looks at ablations; this figure shows what
every rung would have given, beside the size-matched random ablation, so a reader sees
whether the selected lambda sits where the effect is, or where it is not.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sclib.plots.findings import combine_findings, sensitivity_finding
from sclib.plots.style import (
    COLORS,
    HOLLOW_DIAMOND,
    MAX_WIDTH_IN,
    figure_title,
    legend_below,
    panel_letters,
    panel_title,
    regime_color,
    themed,
)
from sclib.stats.vocabulary import TASK_LABELS, architecture_label, as_bool

CELL_LABEL = ["domain", "task", "architecture", "regime", "subroutine", "variant"]


def _name(row: pd.Series) -> str:
    variant = "" if row.get("variant", "none") in ("none", None) else f" ({row['variant']})"
    return (
        f"{TASK_LABELS.get(row['task'], row['task'])}: {row['subroutine']}{variant}, "
        f"{architecture_label(row['architecture'], 'quick')}, {row['regime']}"
    )


def _finding(rows: pd.DataFrame) -> str:
    """What the selected rung gives beside the other rungs that pass (``sensitivity_finding``)."""
    rows = rows.sort_values("l0_lambda")
    passed = as_bool(rows["mask_passed"]).to_numpy()
    scores = rows["ablation_score"].to_numpy(float)
    if not passed.any():
        return sensitivity_finding(None, [])
    selected = np.flatnonzero(passed)[-1]  # the search walks down from the largest lambda
    others = [scores[i] for i in np.flatnonzero(passed) if i != selected]
    return sensitivity_finding(scores[selected], others)


def _panel(ax, rows: pd.DataFrame) -> None:
    rows = rows.sort_values("l0_lambda")
    lam = rows["l0_lambda"].to_numpy()
    passed = as_bool(rows["mask_passed"]).to_numpy()
    color = regime_color(rows["regime"].iloc[0])
    ax.axhline(0, color="0.6", lw=0.8)
    ax.plot(lam, rows["ablation_score"], "-o", color=color, label="zero ablation")
    ax.plot(lam, rows["sampled_ablation_score"], "--", color=COLORS["random"], **HOLLOW_DIAMOND)
    ax.scatter(lam[~passed], rows["ablation_score"].to_numpy()[~passed], s=60, marker="x",
               color="black", zorder=3)  # fmt: skip
    selected = np.flatnonzero(passed)
    if len(selected):  # the search walks down from the largest lambda: the first that passes
        ax.axvline(lam[selected[-1]], color="black", lw=1.2, linestyle="-.", alpha=0.7)
    kept = ax.twinx()
    kept.plot(lam, 100 * rows["kept_fraction"], ":", color=COLORS["kept"])
    kept.set_ylabel("kept (% of the masked region)", color=COLORS["kept"])
    kept.set_yscale("symlog", linthresh=0.1)
    kept.grid(False)
    ax.set_xscale("log")
    ax.set_xlabel("L0 lambda")
    ax.set_ylabel("ablation score")
    ax.set_ylim(-0.8, 0.8)


@themed
def lambda_sensitivity_figure(table: pd.DataFrame) -> Figure:
    """One panel per cell of ``sensitivity.sensitivity_table``: ablation scores along the ladder.

    The cell's regime colour: zero ablation; black dashed, hollow diamonds: the size-matched
    random ablation; black x: rungs whose subnetwork did not pass on validation; dash-dotted
    line: the rung the search selects (the largest lambda that passes); brown dotted (right
    axis): kept fraction. The title states whether the selected rung sits where the effect is
    (``sclib.plots.findings.sensitivity_finding``), per cell.
    """
    groups = list(table.groupby([c for c in CELL_LABEL if c in table], sort=False))
    n = max(1, len(groups))
    ncols = min(n, 2)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(min(MAX_WIDTH_IN, 5.2 * ncols), 4.2 * nrows + 1.0), squeeze=False
    )
    findings = {}
    for ax, letter, (_, rows) in zip(axes.flat, panel_letters(n), groups, strict=False):
        _panel(ax, rows)
        findings[letter] = _finding(rows)
        panel_title(ax, letter, _name(rows.iloc[0]))
    for ax in list(axes.flat)[len(groups) :]:
        ax.set_visible(False)
    entries = [
        ("zero ablation (colour: the cell's regime)", {"kind": "line", "color": "0.3",
                                                        "marker": "o"}),
        ("size-matched random ablation", {"kind": "line", "color": COLORS["random"],
                                          "linestyle": "--", **HOLLOW_DIAMOND}),
        ("subnetwork did not pass", {"marker": "x", "color": "black"}),
        ("selected rung", {"kind": "line", "color": "black", "linestyle": "-."}),
        ("kept fraction (right axis)", {"kind": "line", "color": COLORS["kept"],
                                        "linestyle": ":"}),
    ]  # fmt: skip
    legend_below(fig, entries)
    finding = combine_findings({f"cell {k}": v for k, v in findings.items()}) if n > 1 else (
        findings.get("a", "No cell drawn")
    )  # fmt: skip
    figure_title(
        fig, finding,
        "Lambda sensitivity: the ablation score at every rung of the ladder (the search never "
        "sees it; it keeps the largest lambda that passes on validation).",
    )  # fmt: skip
    fig.tight_layout()
    return fig
