"""sclib.plots.pretraining and pretraining_figure on small synthetic run_cell rows and the paper's."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from fake_runs import run_identity
from matplotlib.patches import Rectangle

from sclib.plots.pretraining import (
    PAPER_ALL,
    PAPER_SAME,
    cell_table,
    interaction_table,
    regime_runs,
    regime_table,
)
from sclib.plots.pretraining_figure import pretrained_vs_random_figure
from sclib.plots.style import COLORS, save_figure
from sclib.stats.reference import paper_runs
from sclib.stats.reliability import fraction_significant
from sclib.stats.vocabulary import PAPER_LABEL

PRETRAINING = {"resnet": "simclr", "minilm": "minilm"}
OURS = "ours (quick profile)"


def fake_row(
    task: str = "inside_contact",
    subroutine: str = "inside",
    architecture: str = "resnet",
    regime: str = "scratch",
    variant: str = "none",
    base_seed: int = 0,
    mask_seed: int = 0,
    target: float = 0.3,
    other: float = 0.9,
    sampled: tuple[float, float] = (0.9, 0.9),
    subnetwork: float = 0.5,
    excluded: bool = False,
    profile: str = "quick",
) -> dict:
    """A row with run_cell's columns that matter here; ablation scores follow the accuracies."""
    pretraining = PRETRAINING[architecture] if regime == "pretrained" else "none"
    return {
        **run_identity(
            task,
            subroutine,
            architecture,
            regime,
            variant,
            base_seed,
            mask_seed,
            pretraining,
            profile,
        ),
        "zero_abl_acc_target": target,
        "zero_abl_acc_other": other,
        "sampled_abl_acc_target": sampled[0],
        "sampled_abl_acc_other": sampled[1],
        "subnetwork_score": subnetwork,
        "ablation_score": max(target, 0.25) - max(other, 0.25),
        "sampled_ablation_score": max(sampled[0], 0.25) - max(sampled[1], 0.25),
        "sub_l0_fraction": 0.1,
        "excluded": excluded,
    }


@pytest.fixture(scope="module")
def paper() -> pd.DataFrame:
    return paper_runs()


@pytest.fixture
def quick() -> pd.DataFrame:
    """The quick profile's shape: one base model per cell; vision has no pretrained regime."""
    rows = [
        fake_row(regime="scratch", target=0.3, other=0.9),
        fake_row(regime="untrained", target=0.5, other=0.5, subnetwork=0.2),
        fake_row(subroutine="contact", regime="scratch", target=0.8, other=0.9),
        fake_row(subroutine="contact", regime="untrained", excluded=True),
    ]
    for regime in ("scratch", "pretrained", "untrained"):
        for sub in ("subject", "verb"):
            rows.append(fake_row("sv_agreement", sub, "minilm", regime, "singular", other=0.95))
    return pd.DataFrame(rows)


@pytest.fixture
def seeded() -> pd.DataFrame:
    """Three base models x two mask seeds per regime: testable; pretrained clearly modular."""
    rng = np.random.default_rng(0)
    rows = []
    for regime, target in (("scratch", 0.7), ("pretrained", 0.3), ("untrained", 0.9)):
        for base in range(3):
            for mask in range(2):
                t = target + rng.uniform(-0.05, 0.05)
                rows.append(fake_row(regime=regime, base_seed=base, mask_seed=mask, target=t))
    return pd.DataFrame(rows)


def test_cell_table_means_counts_and_untestable_cells(quick, paper):
    cells = cell_table(quick, paper)
    ours = cells[cells["source"] == OURS].set_index(["regime", "subroutine"])
    assert ours.loc[("scratch", "inside"), "ablation_score"] == pytest.approx(-0.6)
    assert ours.loc[("scratch", "inside"), "sampled_ablation_score"] == pytest.approx(0.0)
    assert ours.loc[("scratch", "inside"), "untestable"]  # one base model: NaN p-value
    assert not ours.loc[("scratch", "inside"), "significant"]
    excluded = ours.loc[("untrained", "contact")]
    assert (excluded["n_runs"], excluded["n_excluded"]) == (0, 1)
    assert not excluded["untestable"]  # nothing drawn, so nothing to test
    assert ours.loc[("pretrained", "subject"), "pretraining_name"] == "MiniLM weights"
    # the paper's rows: our domains only, no pruned regime, matched by task/subroutine/variant
    theirs = cells[cells["source"] == "paper"]
    assert set(theirs["regime"]) == {"scratch", "pretrained", "untrained"}
    assert set(theirs.loc[theirs["matched"], "task"]) == {"inside_contact", "sv_agreement"}
    assert set(theirs.loc[theirs["matched"] & (theirs["domain"] == "language"), "variant"]) == {
        "singular"
    }
    assert set(theirs.loc[theirs["regime"] == "pretrained", "pretraining_name"]) == {"SimCLR", "LM"}
    row = theirs[
        (theirs["task"] == "sv_agreement")
        & (theirs["subroutine"] == "verb")
        & (theirs["variant"] == "plural")
        & (theirs["regime"] == "pretrained")
    ].iloc[0]
    runs = paper[
        (paper["task"] == "sv_agreement")
        & (paper["subroutine"] == "verb")
        & (paper["variant"] == "plural")
        & (paper["regime"] == "pretrained")
    ]
    assert row["n_runs"] == len(runs) and not row["matched"]
    assert row["ablation_score"] == pytest.approx(runs["ablation_score"].mean())


def test_cell_table_tests_cells_with_several_base_models(seeded, paper):
    cells = cell_table(seeded, paper).query("source == @OURS").set_index("regime")
    assert cells.loc["pretrained", "n_base_models"] == 3
    assert cells.loc["pretrained", "significant"] and cells.loc["scratch", "significant"]
    assert not cells.loc["untrained", "significant"]  # ablation score 0 (floored at chance)
    assert not cells["untestable"].any()


def test_regime_table_agrees_with_fraction_significant(seeded, paper):
    table = regime_table(cell_table(seeded, paper))
    mine = table[table["group"] == OURS].set_index("regime")
    expected = fraction_significant(seeded, by=("regime",)).set_index("regime")
    assert mine["fraction"].to_dict() == pytest.approx(expected["fraction"].to_dict())
    assert mine.loc["pretrained", "ablation_score"] == pytest.approx(
        seeded.loc[seeded["regime"] == "pretrained", "ablation_score"].mean()
    )
    theirs = paper[paper["domain"].eq("vision") & paper["regime"].ne("pruned")]
    expected = fraction_significant(theirs, by=("regime",)).set_index("regime")
    every = table[table["group"] == PAPER_ALL].set_index("regime")
    assert every["n_cells"].to_dict() == expected["n_cells"].to_dict()
    assert every["fraction"].to_dict() == pytest.approx(expected["fraction"].to_dict())
    assert every["n_untestable"].to_dict() == expected["n_untestable"].to_dict()
    assert table.loc[table["group"] == PAPER_SAME, "n_cells"].sum() < every["n_cells"].sum()
    assert list(table["group"].unique()) == [OURS, PAPER_SAME, PAPER_ALL]


def test_interaction_table(seeded, quick, paper):
    table = interaction_table(seeded, paper, ("scratch", "pretrained"))
    mine = table[table["source"] == OURS].iloc[0]
    means = seeded.groupby("regime")["ablation_score"].mean()
    assert mine["coef"] == pytest.approx(means["pretrained"] - means["scratch"])
    assert mine["p_value"] < 0.05 and mine["min_base_models"] == 3
    assert set(table["source"]) == {OURS, "paper"}
    # one base model per regime: no clustered test, p-value NaN
    single = interaction_table(quick, paper, ("scratch", "untrained"))
    single = single[single["source"] == OURS].set_index("subroutine")
    assert single["p_value"].isna().all()
    assert single.loc["inside", "coef"] == pytest.approx(0.0 - -0.6)  # still the difference
    # a contrast nobody ran gives an empty table with the columns
    none = interaction_table(quick[quick["domain"] == "vision"], paper.iloc[:0], ("a", "b"))
    assert len(none) == 0 and "p_value" in none


def left_titles(fig) -> list[str]:
    return [ax.get_title(loc="left") for ax in fig.get_axes()]


def bars_at(ax, x: float) -> list[Rectangle]:
    """The bars of a panel whose centre is at ``x``."""
    return [
        p
        for p in ax.patches
        if isinstance(p, Rectangle) and abs(p.get_x() + p.get_width() / 2 - x) < 1e-6
    ]


def ours_x(regime_index: int, n_groups: int = 3) -> float:
    """Where the reliability panel puts our bar of a regime (our group comes first)."""
    return regime_index - 0.4 + 0.5 * 0.8 / n_groups


def test_figure_two_domains_missing_regime_and_legend(quick, paper):
    fig = pretrained_vs_random_figure(cell_table(quick, paper))
    axes = fig.get_axes()
    assert len(axes) == 6
    assert [t.split(",")[0] for t in left_titles(fig)] == [
        "(a) vision", "(b) vision", "(c) vision", "(d) language", "(e) language", "(f) language",
    ]  # fmt: skip
    ticks = [t.get_text() for t in axes[0].get_xticklabels()]
    assert ticks[1] == "pretrained\nours: not run\npaper: SimCLR"
    lang = [t.get_text() for t in axes[3].get_xticklabels()]
    assert lang[1] == "pretrained\nours: MiniLM weights\npaper: LM"
    texts = [t.get_text() for t in axes[2].texts]
    assert "no runs" in texts and "untestable (2 cells)" in texts
    legend = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
    assert f"{OURS}: Inside-Contact Inside, ResNet (small)" in legend
    assert f"{OURS}: SV-Agreement Verb (singular), MiniLM" in legend
    assert f"{PAPER_LABEL}: WideResNet50" in legend
    assert any("random ablation" in t for t in legend)
    assert f"{OURS}: 9 runs in 9 cells drawn, 1 excluded" in fig._suptitle.get_text()
    plt.close(fig)


def test_figure_is_legible_at_readme_width(quick, paper, tmp_path):
    fig = pretrained_vs_random_figure(cell_table(quick, paper))
    paths = save_figure(fig, tmp_path / "pretrained_vs_random", cell_table(quick, paper))
    plt.close(fig)
    assert plt.imread(paths[0]).shape[1] <= 1600


def test_untestable_cells_are_drawn_as_absent_with_a_label(quick, seeded, paper):
    """One base model per cell: no bar at all at our position (never a full-height one)."""
    fig = pretrained_vs_random_figure(cell_table(quick, paper))
    reliability = fig.get_axes()[2]
    for i in (0, 2):  # vision scratch and untrained: 2 and 1 cells of ours, all untestable
        assert bars_at(reliability, ours_x(i)) == []
        labels = [t for t in reliability.texts if abs(t.get_position()[0] - ours_x(i)) < 1e-6]
        assert [t.get_text().split(" (")[0] for t in labels] == ["untestable"]
    assert bars_at(reliability, ours_x(0) + 0.8 / 3)  # the paper's matched cells are tested
    assert "too few base models to test" in left_titles(fig)[2].replace("\n", " ")
    plt.close(fig)
    # three base models per cell: tested, so our bars are drawn, in the regime's colour
    fig = pretrained_vs_random_figure(cell_table(seeded, paper))
    reliability = fig.get_axes()[2]
    for i, regime in enumerate(("scratch", "pretrained", "untrained")):
        (bar,) = bars_at(reliability, ours_x(i))
        assert np.allclose(bar.get_facecolor()[:3], COLORS[regime])
        assert bar.get_height() == pytest.approx(0.0 if regime == "untrained" else 1.0)
    assert not any(t.get_text().startswith("untestable") for t in reliability.texts)
    plt.close(fig)


def test_title_compares_pretrained_with_scratch_both_ways(seeded, paper):
    fig = pretrained_vs_random_figure(cell_table(seeded, paper))  # pretrained -0.6, scratch -0.2
    title = fig._suptitle.get_text().replace("\n", " ")
    assert title.startswith(
        "Pretrained subnetworks ablate more selectively than scratch ones (vision"
    )
    plt.close(fig)
    swapped = seeded.assign(
        regime=seeded["regime"].map(
            {"scratch": "pretrained", "pretrained": "scratch", "untrained": "untrained"}
        )
    )
    swapped["pretraining"] = np.where(swapped["regime"] == "pretrained", "simclr", "none")
    fig = pretrained_vs_random_figure(cell_table(swapped, paper))
    title = fig._suptitle.get_text().replace("\n", " ")
    assert title.startswith("Scratch subnetworks ablate more selectively than pretrained ones (vis")
    plt.close(fig)


def test_figure_one_domain_all_excluded_regime(quick, paper, tmp_path):
    vision = quick[quick["domain"] == "vision"].copy()
    vision.loc[vision["regime"] == "untrained", "excluded"] = True
    cells = cell_table(vision, paper)
    fig = pretrained_vs_random_figure(cells)
    axes = fig.get_axes()
    assert len(axes) == 3
    assert "ours: all excluded" in axes[0].get_xticklabels()[2].get_text()
    paths = save_figure(fig, tmp_path / "pretrained_vs_random", cells)
    plt.close(fig)
    assert all(p.stat().st_size > 0 for p in paths)
    assert len(pd.read_csv(paths[2])) == len(cells)


def test_regime_runs_rejects_empty(paper):
    with pytest.raises(ValueError, match="empty"):
        regime_runs(pd.DataFrame(), paper)
