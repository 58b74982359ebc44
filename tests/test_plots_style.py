"""sclib.plots.style: the names, the legend helper and the small helpers every figure shares."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sclib.plots.style import HOLLOW_DIAMOND, domain_order, has_variant, legend_handles, source_size
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
