"""What every figure shares: one palette, one theme, the legend helper, saving.

Used by every figure module of ``sclib.plots`` (notebooks 00 and 02-04; names of things come
from ``sclib.stats.vocabulary``). The palette is seaborn's colour-blind-safe one, and each of
its colours means one thing in every figure (:data:`COLORS`): a regime, a subroutine, the
paper's runs (grey), the size-matched random control (black, hollow diamonds). Figures are
drawn under :data:`THEME` (:func:`themed`), so sizes and fonts are set here once. Legends are
built from ``(label, style)`` entries by :func:`legend_handles`, never by hand.

>>> handles = legend_handles([("runs", {"marker": "o"}), ("bars", {"kind": "patch"})])
>>> [type(h).__name__ for h in handles], [h.get_label() for h in handles]
(['Line2D', 'Patch'], ['runs', 'bars'])
"""

from __future__ import annotations

import functools
import json
import textwrap
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.artist import Artist
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sclib.provenance import provenance, runs_provenance
from sclib.stats.vocabulary import DOMAINS, as_bool, ours_label

# score column -> the axis label of its panel (figures 02 and 03)
SCORES = {
    "subnetwork_score": "subnetwork score (expected > 0, ideal 0.75)",
    "ablation_score": "ablation score (expected < 0)",
}
SCORE_NAMES = {score: label.split(" (")[0] for score, label in SCORES.items()}
RANDOM_ABLATION = "ours: size-matched random ablation"  # the hollow markers' legend entry

# One palette, one meaning per colour, in every figure. Regimes are always these three
# colours; the two subroutines of a task (its first and second, as the task lists them) two
# others; the paper's runs grey (its subset of all tasks a lighter grey); the size-matched
# random control black (drawn as hollow diamonds); the kept fraction of a mask brown.
PALETTE = sns.color_palette("colorblind")
COLORS: dict[str, Any] = {
    "scratch": PALETTE[0],
    "pretrained": PALETTE[1],
    "untrained": PALETTE[4],
    "subroutine_a": PALETTE[2],
    "subroutine_b": PALETTE[3],
    "paper": "0.6",
    "paper_all": "0.82",
    "random": "black",
    "kept": PALETTE[5],
}
PAPER_COLOR = COLORS["paper"]
REGIME_COLORS = {r: COLORS[r] for r in ("scratch", "pretrained", "untrained")}
REGIME_STYLES = {"scratch": "-", "pretrained": "--", "untrained": ":"}
# legend styles that several figures use
HOLLOW_DIAMOND = {"marker": "D", "markerfacecolor": "none", "markeredgecolor": COLORS["random"]}
# markers of our (source, architecture) series, in turn; "D" is the random control's
MARKERS = ("o", "s", "^", "v", "P", "X", "p", "h")
# the theme every figure is drawn under: seaborn's white grid at "paper" sizes (fonts of
# 8.8-9.6 pt), legible when a figure is shown at README width (figures are at most 10 in,
# 1,500 px at 150 dpi, wide)
THEME: dict[str, Any] = {
    **sns.axes_style("whitegrid"),
    **sns.plotting_context("paper"),
    "axes.prop_cycle": plt.cycler(color=PALETTE),
    "figure.titlesize": 11,
    "legend.frameon": False,
}
MAX_WIDTH_IN = 10.0  # the widest figure, inches (1,500 px at the saved 150 dpi)


def source_size(source: Any) -> str:
    """The model size of a source's architectures: the paper's sizes in the full profile only."""
    return "full" if source == ours_label("full") else "quick"


def domain_order(domains: Iterable[str]) -> list[str]:
    """The distinct domains in figure order: vision, language, then any others sorted."""
    present = set(domains)
    return [d for d in DOMAINS if d in present] + sorted(present - set(DOMAINS))


def regime_color(regime: str) -> Any:
    """The colour of a regime in every figure (black for a regime sclib does not know)."""
    return REGIME_COLORS.get(regime, COLORS["random"])


def subroutine_colors(subroutines: Iterable[str]) -> dict[str, Any]:
    """Subroutine -> colour: the first distinct one ``subroutine_a``'s, the second ``_b``'s.

    Pass a task's subroutines in the task's order (rows in grid order keep it).

    >>> list(subroutine_colors(["inside", "contact", "inside"]))
    ['inside', 'contact']
    """
    names = list(dict.fromkeys(subroutines))
    keys = ("subroutine_a", "subroutine_b")
    return {name: COLORS[keys[i % 2]] for i, name in enumerate(names)}


def themed(draw: Callable[..., Any]) -> Callable[..., Any]:
    """Draw under :data:`THEME` (a ``rc_context``: nothing global changes)."""

    @functools.wraps(draw)
    def drawn(*args: Any, **kwargs: Any) -> Any:
        with plt.rc_context(THEME):
            return draw(*args, **kwargs)

    return drawn


def panel_letters(n: int) -> list[str]:
    """The letters of a figure's ``n`` panels, each once: ``a``, ``b``, ...

    >>> panel_letters(3)
    ['a', 'b', 'c']
    """
    if n > 26:
        raise ValueError(f"{n} panels is too many for one figure; split it (at most 26)")
    return [chr(ord("a") + i) for i in range(n)]


def panel_title(ax: Any, letter: str, text: str) -> None:
    """A panel's title, left-aligned, led by its letter: ``(a) text``."""
    ax.set_title(f"({letter}) {text}", loc="left")


def panel_table(panels: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Each panel's data in one long table with a ``panel`` column first (a figure's CSV).

    >>> panel_table({"a": pd.DataFrame({"x": [1]}), "b": pd.DataFrame({"x": [2]})})
      panel  x
    0     a  1
    1     b  2
    """
    parts = [t.assign(panel=p) for p, t in panels.items() if len(t)]
    if not parts:
        return pd.DataFrame(columns=["panel"])
    out = pd.concat(parts, ignore_index=True)
    return out[["panel", *[c for c in out.columns if c != "panel"]]]


def figure_title(fig: Figure, finding: str, *details: str) -> None:
    """The figure's title: first the finding, computed by the caller from the data
    (``sclib.plots.findings``), then lines of details (counts, what is drawn), each wrapped
    on its own to the figure's width (a short line, such as a count, is never broken)."""
    width = int(fig.get_figwidth() * 11)  # characters per line at the title's size
    lines = [textwrap.fill(text, width) for text in (finding, *details) if text]
    fig.suptitle("\n".join(lines))


def has_variant(variant: Any) -> bool:
    """Whether a cell names a number variant (not ``"none"``, blank or missing)."""
    return not (variant is None or variant in ("none", "") or pd.isna(variant))


def legend_handles(entries: Iterable[tuple[str, Mapping[str, Any]]]) -> list[Artist]:
    """Legend handles from ``(label, style)`` entries: the one way figures build legends.

    ``style["kind"]`` says what the entry shows: ``"marker"`` (default; a marker, no line),
    ``"line"`` (a line, with a marker if the style names one) or ``"patch"`` (a filled
    box, for bars and bands). The rest of ``style`` goes to ``Line2D`` or ``Patch``.
    """
    handles: list[Artist] = []
    for label, style in entries:
        style = dict(style)
        kind = style.pop("kind", "marker")
        if kind == "marker":
            handles.append(Line2D([], [], linestyle="", label=label, **style))
        elif kind == "line":
            handles.append(Line2D([], [], label=label, **style))
        elif kind == "patch":
            handles.append(Patch(label=label, **style))
        else:
            raise ValueError(f"unknown legend kind {kind!r}; choose one of: marker, line, patch")
    return handles


def legend_below(fig: Figure, entries: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
    """One legend for the whole figure, in two columns under the panels."""
    fig.legend(
        handles=legend_handles(entries), loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2,
        frameon=False,
    )  # fmt: skip


def save_figure(
    fig: Figure, stem: str | Path, data: pd.DataFrame, runs: pd.DataFrame | None = None
) -> list[Path]:
    """Write ``<stem>.png`` (150 dpi), ``<stem>.pdf`` and the data behind it, ``<stem>.csv``.

    With ``runs`` (our run rows the figure rests on), also ``<stem>.provenance.json``: the
    profiles, seeds, devices, torch versions, git revisions and wall time of those runs,
    and the device and torch version that drew the figure. Folders are created; files
    carry no creation dates, so reruns give identical bytes. Returns the paths written.
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


NO_SUBNETWORK = "no subnetwork passed"  # sclib.experiments.runner.EXCLUSION_REASONS[1]


def exclusion_counts(runs: pd.DataFrame) -> str:
    """How many of ``runs`` a figure draws and leaves out, for its caption; those excluded
    because no subnetwork passed are counted by their ``exclusion_reason`` where runs have
    one (``mask_passed`` False otherwise).

    Excluded runs are those on a base model below the exclusion threshold and trained runs
    whose mask never reached the selection threshold (``mask_passed`` False), counted apart.

    >>> exclusion_counts(pd.DataFrame({"excluded": [False, True, True],
    ...                                "mask_passed": [True, False, True]}))
    '1 runs drawn, 2 excluded (1 with no subnetwork passing)'
    """
    excluded = as_bool(runs["excluded"]) if "excluded" in runs else pd.Series(False, runs.index)
    if "exclusion_reason" in runs:  # the reason says it (not a failed base model's mask)
        failed = excluded & runs["exclusion_reason"].eq(NO_SUBNETWORK)
    else:
        passed = runs["mask_passed"] if "mask_passed" in runs else pd.Series(True, runs.index)
        failed = excluded & passed.notna() & ~as_bool(passed.fillna(True))
    return (
        f"{int((~excluded).sum())} runs drawn, {int(excluded.sum())} excluded "
        f"({int(failed.sum())} with no subnetwork passing)"
    )
