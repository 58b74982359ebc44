"""Notebook 00's figure: the toy's 2x2 pattern per subroutine, drawn.

Used by ``notebooks/00_quickstart.ipynb``. ``table`` is the notebook's table: one row per
mask (``subroutine``) and ``condition`` ("subnetwork", "zero-ablated", "random-ablated"),
with the accuracies on the mask's own "+/-" set (``target``) and the other's (``other``).
Bars are coloured by the subroutine whose "+/-" set they score (``style.COLORS``), so the
pattern reads as a crossing: zeroing the ``left`` subnetwork drops ``pm:left``, zeroing the
``right`` one drops ``pm:right``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from sclib.plots.findings import ablation_finding, combine_findings
from sclib.plots.style import figure_title, panel_letters, panel_title, subroutine_colors, themed
from sclib.stats.scores import ablation_score
from sclib.stats.vocabulary import CHANCE

CONDITIONS = ("subnetwork", "zero-ablated", "random-ablated")


def quickstart_scores(table: pd.DataFrame) -> pd.DataFrame:
    """Per subroutine, the ablation score of the zero and of the random ablation.

    >>> t = pd.DataFrame({"subroutine": ["a", "a"], "condition": ["zero-ablated",
    ...     "random-ablated"], "target": [0.3, 0.9], "other": [0.9, 0.9]})
    >>> quickstart_scores(t).round(2).to_dict("index")
    {'a': {'zero': -0.6, 'random': 0.0}}
    """
    by = {c: part.set_index("subroutine") for c, part in table.groupby("condition")}
    zero, rand = by["zero-ablated"], by["random-ablated"]
    return pd.DataFrame(
        {
            "zero": ablation_score(zero["target"], zero["other"]),
            "random": ablation_score(rand["target"], rand["other"]),
        }
    )


@themed
def quickstart_figure(table: pd.DataFrame) -> Figure:
    """A panel per mask: accuracy on each "+/-" set for the subnetwork alone, the model with
    the subnetwork zeroed and with as many random weights zeroed; a labelled chance line.

    The title states what zeroing each subnetwork did (``sclib.plots.findings``), from the
    ablation scores of ``table`` beside those of the random ablation.
    """
    subs = list(dict.fromkeys(table["subroutine"]))
    colors = subroutine_colors(subs)
    fig, axes = plt.subplots(1, len(subs), figsize=(8.0, 3.8), sharey=True, squeeze=False)
    width = 0.8 / len(subs)
    for ax, letter, sub in zip(axes[0], panel_letters(len(subs)), subs, strict=True):
        rows = table[table["subroutine"] == sub].set_index("condition").reindex(CONDITIONS)
        other = next(s for s in subs if s != sub) if len(subs) > 1 else None
        accuracy = {sub: rows["target"], other: rows["other"]}
        for k, pm in enumerate(s for s in subs if s in accuracy):
            xs = np.arange(len(CONDITIONS)) - 0.4 + (k + 0.5) * width
            ax.bar(xs, accuracy[pm], width * 0.9, color=colors[pm], label=f"pm:{pm}")
        ax.axhline(CHANCE, color="black", linestyle="--", linewidth=1)
        ax.text(
            len(CONDITIONS) - 0.45, CHANCE, f"chance ({CHANCE})", ha="right", va="center",
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.9},
        )  # fmt: skip
        ax.set_xticks(range(len(CONDITIONS)), CONDITIONS)
        ax.set_ylim(0, 1.05)
        ax.grid(axis="x", visible=False)
        panel_title(ax, letter, f"mask trained for {sub} (target: pm:{sub})")
    axes[0, 0].set_ylabel("accuracy on the pm set")
    handles, labels = axes[0, -1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(subs))
    scores = quickstart_scores(table)
    findings = {
        sub: ablation_finding(
            row.zero, random_score=row.random, subject="the subnetwork", label="ablation score"
        )
        for sub, row in scores.iterrows()
    }
    figure_title(fig, combine_findings(findings))
    fig.tight_layout()
    return fig
