"""sclib.plots.quickstart: notebook 00's figure, its title and its chance line."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sclib.plots.quickstart import quickstart_figure
from sclib.plots.style import COLORS

CONDITIONS = ["subnetwork", "zero-ablated", "random-ablated"]


def toy_table(zeroed_target: float) -> pd.DataFrame:
    """The notebook's table: zeroing a subnetwork takes its own pm set to ``zeroed_target``."""
    rows = []
    for sub in ("left", "right"):
        for condition, target, other in zip(
            CONDITIONS, (1.0, zeroed_target, 0.97), (0.24, 0.99, 0.97), strict=True
        ):
            rows.append(
                {"subroutine": sub, "condition": condition, "target": target, "other": other}
            )
    return pd.DataFrame(rows)


def test_title_states_what_zeroing_did_both_ways():
    fig = quickstart_figure(toy_table(0.3))
    title = fig._suptitle.get_text().replace("\n", " ")
    assert title.startswith("Ablating the subnetwork hurts its own subroutine more")
    assert "left: ablation score -0.69, random ablation +0.00" in title
    plt.close(fig)
    fig = quickstart_figure(toy_table(0.99))  # zeroing changes nothing
    assert fig._suptitle.get_text().startswith("No selective effect of ablating the subnetwork")
    plt.close(fig)


def test_chance_line_is_labelled_and_colours_are_the_subroutines():
    fig = quickstart_figure(toy_table(0.3))
    for ax, letter in zip(fig.get_axes(), "ab", strict=True):
        assert ax.get_title(loc="left").startswith(f"({letter}) mask trained for")
        assert any(np.allclose(line.get_ydata(), 0.25) for line in ax.get_lines())
        assert "chance (0.25)" in [t.get_text() for t in ax.texts]
    faces = {tuple(np.round(p.get_facecolor()[:3], 3)) for p in fig.get_axes()[0].patches}
    expected = {tuple(np.round(COLORS[k], 3)) for k in ("subroutine_a", "subroutine_b")}
    assert faces == expected
    plt.close(fig)
