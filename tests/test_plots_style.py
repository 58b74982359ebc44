"""sclib.plots.style: the palette, the theme, the names, the legend helper and the small
helpers every figure shares."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

import sclib.plots
from sclib.plots.style import (
    COLORS,
    HOLLOW_DIAMOND,
    REGIME_COLORS,
    THEME,
    domain_order,
    figure_title,
    has_variant,
    legend_handles,
    panel_letters,
    panel_table,
    regime_color,
    source_size,
    subroutine_colors,
    themed,
)
from sclib.stats.vocabulary import (
    PRETRAINING_NAMES,
    Pretraining,
    architecture_label,
    as_bool,
    ours_label,
)


def test_legend_handles_build_markers_lines_and_patches():
    marker, line, patch = legend_handles(
        [
            ("runs", {**HOLLOW_DIAMOND, "markersize": 7}),
            ("mean", {"kind": "line", "color": "black", "linewidth": 2.5}),
            ("bars", {"kind": "patch", "facecolor": "none", "hatch": "///"}),
        ]
    )
    assert isinstance(marker, Line2D) and marker.get_linestyle() == "None"
    assert (marker.get_marker(), marker.get_markerfacecolor(), marker.get_markersize()) == (
        "D",
        "none",
        7,
    )
    assert isinstance(line, Line2D) and line.get_linestyle() == "-" and line.get_linewidth() == 2.5
    assert isinstance(patch, Patch) and patch.get_hatch() == "///"
    assert [h.get_label() for h in (marker, line, patch)] == ["runs", "mean", "bars"]


def test_legend_handles_reject_an_unknown_kind():
    with pytest.raises(ValueError, match="unknown legend kind 'bar'; choose one of: marker"):
        legend_handles([("x", {"kind": "bar"})])


def test_labels_and_sizes():
    assert architecture_label("wide_resnet", "quick") == "WideResNet (small)"
    assert architecture_label("wide_resnet") == "WideResNet50"
    assert architecture_label("unknown_net") == "unknown_net"
    assert source_size(ours_label("full")) == "full"
    assert source_size(ours_label("quick")) == source_size("paper") == "quick"
    assert PRETRAINING_NAMES["paper"]["mlm"] == "LM"
    assert PRETRAINING_NAMES["ours"][Pretraining.MINILM] == "MiniLM weights"


def test_domain_order_and_variants():
    assert domain_order(["language", "toy", "vision", "language"]) == ["vision", "language", "toy"]
    assert [has_variant(v) for v in ("singular", "none", "", None, np.nan)] == [
        True,
        False,
        False,
        False,
        False,
    ]


def test_as_bool_reads_csv_spellings():
    values = pd.Series(["True", "False", "1", "", np.nan, "1.0"])
    assert as_bool(values).tolist() == [True, False, True, False, False, True]
    assert as_bool(pd.Series([True, False])).dtype == bool


def test_one_colour_per_concept():
    colours = [to_rgb(c) for c in COLORS.values()]
    assert len(set(colours)) == len(colours)  # no two concepts share a colour
    assert {r: regime_color(r) for r in REGIME_COLORS} == REGIME_COLORS
    first, second = subroutine_colors(["inside", "contact"]).values()
    assert (first, second) == (COLORS["subroutine_a"], COLORS["subroutine_b"])
    assert subroutine_colors(["subject", "verb"])["subject"] == first  # the same role, same colour


def test_no_figure_module_picks_colours_of_its_own():
    """Every colour comes from style.COLORS: no matplotlib colour names or colour maps elsewhere."""
    folder = Path(sclib.plots.__file__).parent
    own = re.compile(r"tab:|get_cmap|color_palette|\"C[0-9]\"|Dark2|tab10")
    for path in folder.glob("*.py"):
        if path.name != "style.py":
            assert not own.search(path.read_text()), path.name


def test_themed_draws_under_the_theme_and_restores_rc():
    before = plt.rcParams["font.size"]

    @themed
    def draw():
        return plt.rcParams["font.size"], plt.rcParams["axes.grid"]

    assert draw() == (THEME["font.size"], True)
    assert plt.rcParams["font.size"] == before


def test_panel_letters_and_tables():
    assert panel_letters(2) == ["a", "b"]
    with pytest.raises(ValueError, match="split it"):
        panel_letters(27)
    table = panel_table(
        {"a": pd.DataFrame({"x": [1]}), "b": pd.DataFrame(), "c": pd.DataFrame({"x": [3]})}
    )
    assert table["panel"].tolist() == ["a", "c"] and table.columns[0] == "panel"


def test_figure_title_wraps_lines_apart_and_keeps_short_ones_whole():
    fig = plt.figure(figsize=(4, 3))
    count = "ours (quick profile): 5 runs drawn, 1 excluded"
    figure_title(fig, "A finding " * 10, count)
    lines = fig._suptitle.get_text().split("\n")
    assert lines[0].startswith("A finding") and len(lines) >= 3
    assert all(len(line) <= 44 for line in lines)
    plt.close(fig)
    fig = plt.figure(figsize=(8, 3))
    figure_title(fig, "Short finding", count)
    assert fig._suptitle.get_text() == f"Short finding\n{count}"
    plt.close(fig)
