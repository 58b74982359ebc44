"""What every figure shares: colours, the legend helper, saving (names: ``sclib.stats.vocabulary``).

Used by :mod:`sclib.plots.modularity` (notebook 02), :mod:`sclib.plots.pretraining`
(notebook 03) and :mod:`sclib.plots.decomposition` (notebook 04). Legends are built from
``(label, style)`` entries by :func:`legend_handles`, never by hand.

>>> handles = legend_handles([("runs", {"marker": "o"}), ("bars", {"kind": "patch"})])
>>> [type(h).__name__ for h in handles], [h.get_label() for h in handles]
(['Line2D', 'Patch'], ['runs', 'bars'])
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sclib.provenance import provenance, runs_provenance
from sclib.stats.vocabulary import DOMAINS, as_bool, ours_label

# score column -> the title of its panel (figures 02 and 03)
SCORES = {
    "subnetwork_score": "subnetwork score (expected > 0, ideal 0.75)",
    "ablation_score": "ablation score (expected < 0)",
}
RANDOM_ABLATION = "ours: size-matched random ablation"  # the hollow markers' legend entry

# colours: regimes (figure 04), the paper's runs (grey)
PAPER_COLOR = "0.55"
REGIME_COLORS = {"scratch": "tab:blue", "pretrained": "tab:orange", "untrained": "tab:purple"}
REGIME_STYLES = {"scratch": "-", "pretrained": "--", "untrained": ":"}
# legend styles that several figures use
HOLLOW_DIAMOND = {"marker": "D", "markerfacecolor": "none", "markeredgecolor": "black"}


def source_size(source: Any) -> str:
    """The model size of a source's architectures: the paper's sizes in the full profile only."""
    return "full" if source == ours_label("full") else "quick"


def domain_order(domains: Iterable[str]) -> list[str]:
    """The distinct domains in figure order: vision, language, then any others sorted."""
    present = set(domains)
    return [d for d in DOMAINS if d in present] + sorted(present - set(DOMAINS))


def series_color(index: int) -> Any:
    """The colour of the ``index``-th series of ours (matplotlib's ``tab10``, cycled)."""
    return plt.get_cmap("tab10")(index % 10)


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
        fontsize=8, frameon=False,
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


def exclusion_counts(runs: pd.DataFrame) -> str:
    """How many of ``runs`` a figure draws and leaves out, for its caption.

    Excluded runs are those on a base model below the exclusion threshold and trained runs
    whose mask never reached the selection threshold (``mask_passed`` False), counted apart.

    >>> exclusion_counts(pd.DataFrame({"excluded": [False, True, True],
    ...                                "mask_passed": [True, False, True]}))
    '1 runs drawn, 2 excluded (1 with no subnetwork passing)'
    """
    excluded = as_bool(runs["excluded"]) if "excluded" in runs else pd.Series(False, runs.index)
    passed = runs["mask_passed"] if "mask_passed" in runs else pd.Series(True, runs.index)
    failed = excluded & passed.notna() & ~as_bool(passed.fillna(True))
    return (
        f"{int((~excluded).sum())} runs drawn, {int(excluded.sum())} excluded "
        f"({int(failed.sum())} with no subnetwork passing)"
    )
