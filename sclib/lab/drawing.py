"""The explorer's pictures and HTML panels, drawn from what ``sclib.lab.explorer`` computed.

Figures are made without pyplot (``new_figure``), so that a widget never shows one twice;
``png`` turns one into the bytes an ipywidgets ``Image`` shows and ``as_image`` into an
image a notebook cell shows. Used by ``sclib.lab.widget.Explorer`` and ``06_exercises``.
"""

from __future__ import annotations

import html
import io
from typing import Any

import numpy as np
import pandas as pd

from sclib.lab.explorer import MODE_LABELS
from sclib.lab.subjects import Subject, short_layer
from sclib.masks import MaskSet
from sclib.stats.vocabulary import CHANCE
from sclib.tasks.base import ProblemSet


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure of ``width`` x ``height`` inches, made without pyplot."""
    from matplotlib.figure import Figure  # no pyplot: nothing is drawn twice in a notebook

    return Figure(figsize=(width, height), layout="constrained")


def png(fig: Any) -> bytes:
    """A Figure as PNG bytes (what an ipywidgets ``Image`` shows)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def as_image(fig: Any) -> Any:
    """A Figure of the explorer as an IPython ``Image``: it shows in a notebook cell (the
    explorer draws without pyplot, so that widgets never show a figure twice)."""
    from IPython.display import Image

    return Image(png(fig))


def layer_figure(stats: pd.DataFrame, subroutine: str) -> Any:
    """A bar chart: kept fraction of every masked layer (``Subnetworks.layer_stats``)."""
    from sclib.plots.style import COLORS  # here: it imports pyplot, which drawing avoids

    fig = new_figure(4.6, 0.9 + 0.22 * len(stats))
    ax = fig.subplots()
    y = np.arange(len(stats))[::-1]
    ax.barh(y, stats["fraction"], color=COLORS["kept"])  # kept fraction: one colour everywhere
    ax.set_yticks(y, stats["short"], fontsize=7)
    for yi, (frac, kept) in zip(y, stats[["fraction", "kept"]].values, strict=True):
        ax.text(frac, yi, f" {frac:.1%} ({int(kept)})", va="center", fontsize=6)
    ax.set_xlim(0, min(1.3, max(0.05, float(stats["fraction"].max()) * 1.35)))
    ax.set_xlabel("kept fraction of the layer's weights")
    ax.set_title(f"where the {subroutine} subnetwork lives", fontsize=9)
    return fig


def mask_figure(image: np.ndarray, layer: str, conv: bool = False) -> Any:
    """A picture of one layer's mask (``Subnetworks.layer_mask``): dark = weight in the
    subnetwork; ``conv``: the inputs are a conv kernel's channels x taps."""
    fig = new_figure(4.6, 3.2)
    ax = fig.subplots()
    ax.imshow(image, cmap="Greys", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    ax.set_xlabel("input channel x kernel tap" if conv else "input")
    ax.set_ylabel("output unit")
    title = f"{short_layer(layer)}: {image.mean():.1%} of {image.size} weights kept"
    ax.set_title(title, fontsize=9)
    return fig


def examples_figure(examples: pd.DataFrame, tests: dict[str, ProblemSet]) -> Any:
    """Vision: the ``examples`` (``Subnetworks.examples``) drawn from ``tests``, the odd
    image framed red, the model's pick dashed blue."""
    from matplotlib.patches import Rectangle

    from sclib.tasks.vision import draw_problem

    fig = new_figure(4.6, 1.25 * len(examples) + 0.2)
    axes = fig.subplots(len(examples), 1, squeeze=False)[:, 0]
    for ax, row in zip(axes, examples.itertuples(), strict=True):
        items, odd, _ = tests[row.set][row.problem]
        mark = "correct" if row.correct else "WRONG"
        draw_problem(ax, items, odd, f"{row.set}: odd breaks {row.breaks}; model {mark}")
        h, w = items.shape[-2:]
        ax.add_patch(
            Rectangle((row.choice * (w + 2) - 0.5, -0.5), w, h, fill=False,
                      edgecolor="tab:blue", linestyle="--", linewidth=2)
        )  # fmt: skip
    return fig


def _item_lines(subject: Subject, items: Any) -> list[str]:
    """One line per item: a sentence, or a toy vector summarised by its two properties."""
    if subject.domain != "toy":
        return [html.escape(str(s)) for s in items]
    holds = subject.task.properties(items)
    lines = []
    for j in range(len(items)):
        has = " ".join(f"{s}:{'yes' if bool(holds[s][j]) else '<u>no</u>'}" for s in holds)
        lines.append(f"item {j} |x|={float(items[j].norm()):.1f} {has}")
    return lines


def examples_html(examples: pd.DataFrame, subject: Subject) -> str:
    """Language and toy: the ``examples`` (``Subnetworks.examples``) of ``subject`` as HTML
    (sentences; toy vectors summarised by which property each item has)."""
    parts = []
    for row in examples.itertuples():
        items, odd, _ = subject.tests[row.set][row.problem]
        verdict = "right" if row.correct else "<b style='color:#c00'>wrong</b>"
        lines = _item_lines(subject, items)
        for j in range(len(lines)):
            tags = ("odd " if j == odd else "") + ("&#9664; model" if j == row.choice else "")
            lines[j] = f"{lines[j]} <i>{tags}</i>"
        parts.append(
            f"<div><b>{row.set}</b> #{row.problem} (odd breaks {row.breaks}; the model is "
            f"{verdict})<pre style='margin:0 0 6px 0;line-height:1.3'>"
            f"{chr(10).join(lines)}</pre></div>"
        )
    return "".join(parts)


def accuracy_html(
    accuracies: dict[str, dict[str, float]],
    mode: str,
    masks: MaskSet,
    score: float | None = None,
    note: str | None = None,
) -> str:
    """The accuracy panel: a row per view in ``accuracies`` (view -> "+/-" set -> accuracy,
    target set first), ``mode``'s highlighted, the subnetwork's size, and ``mode``'s
    ablation ``score`` and warning ``note`` (None when ``mode`` is no ablation)."""
    sets = list(next(iter(accuracies.values())))
    head = "".join(
        f"<th>{s}{' (target)' if i == 0 else ' (other)'}</th>" for i, s in enumerate(sets)
    )
    body = ""
    for view, accs in accuracies.items():
        style = " style='background:#fff3c4;font-weight:bold'" if view == mode else ""
        cells = "".join(f"<td>{accs[s]:.3f}</td>" for s in sets)
        body += f"<tr{style}><td>{MODE_LABELS[view]} [{view}]</td>{cells}</tr>"
    n = masks.size()  # the nonzero (existing) masked weights, as kept_fraction counts them
    lines = [
        f"<table><tr><th></th>{head}</tr>{body}</table>",
        f"subnetwork: {masks.kept_fraction():.1%} of {n:,} masked weights; chance {CHANCE}",
    ]
    if score is None:
        lines.append("pick an ablation mode to remove the subnetwork from the full model")
    else:
        lines.append(f"ablation score ({mode}): {score:+.3f} (target minus other)")
        if note is not None:
            lines.append(f"<i>{html.escape(note)}</i>")
    return "<br>".join(lines)
