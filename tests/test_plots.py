"""sclib.plots.modularity on small synthetic tables of run_cell rows, beside the paper's runs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from fake_runs import OTHER, run_identity

from sclib.plots.modularity import (
    FULL_LABEL,
    base_model_table,
    modularity_figure,
    summary_table,
    verdicts,
)
from sclib.plots.style import COLORS, save_figure
from sclib.stats.reference import paper_runs
from sclib.stats.vocabulary import PAPER_LABEL


def fake_row(
    task: str = "inside_contact",
    subroutine: str = "inside",
    architecture: str = "resnet",
    regime: str = "scratch",
    variant: str = "none",
    base_seed: int = 0,
    mask_seed: int = 0,
    subnetwork: float = 0.5,
    ablation: float = -0.3,
    sampled: float = 0.0,
    kept: float = 0.1,
    base_acc: float = 0.99,
    excluded: bool = False,
    profile: str = "quick",
) -> dict:
    """A row with run_cell's columns that matter here (scores given, not computed)."""
    first = subroutine < OTHER[subroutine]
    return {
        **run_identity(
            task, subroutine, architecture, regime, variant, base_seed, mask_seed, profile=profile
        ),
        "base_comp_test_acc": base_acc,
        "base_pm_target_acc": 0.9 if first else 0.8,
        "base_pm_other_acc": 0.8 if first else 0.9,
        "base_subroutine_acc": 0.3,
        "subnetwork_score": subnetwork,
        "ablation_score": ablation,
        "sampled_ablation_score": sampled,
        "sub_l0_fraction": kept,
        "excluded": excluded,
        "exclusion_note": f"base compositional test accuracy {base_acc} < 0.9" if excluded else "",
    }


@pytest.fixture(scope="module")
def paper() -> pd.DataFrame:
    return paper_runs()


@pytest.fixture
def ours() -> pd.DataFrame:
    rows = [
        fake_row(subroutine="inside", mask_seed=0, subnetwork=0.6, ablation=-0.4, sampled=0.0),
        fake_row(subroutine="inside", mask_seed=1, subnetwork=0.4, ablation=-0.2, sampled=0.1),
        fake_row(subroutine="contact", subnetwork=0.2, ablation=0.0, sampled=0.0),
        fake_row(subroutine="contact", base_seed=1, ablation=-0.7, base_acc=0.5, excluded=True),
        fake_row("sv_agreement", "subject", "minilm", "pretrained", "singular", ablation=-0.5),
        fake_row("sv_agreement", "verb", "minilm", "pretrained", "singular", subnetwork=np.nan),
    ]
    return pd.DataFrame(rows)


def legend_texts(fig) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def left_titles(fig) -> list[str]:
    return [ax.get_title(loc="left") for ax in fig.get_axes()]


def test_figure_has_a_row_per_domain_and_a_paper_legend(ours, paper):
    fig = modularity_figure(ours, paper)
    axes = fig.get_axes()
    assert len(axes) == 4
    titles = left_titles(fig)
    assert titles[0].startswith("(a) vision, subnetwork score")
    assert titles[3].startswith("(d) language, ablation score")
    texts = legend_texts(fig)
    assert any(t.startswith(PAPER_LABEL) for t in texts)
    assert any("ResNet (small)" in t for t in texts) and any("ResNet50" in t for t in texts)
    assert any("MiniLM" in t for t in texts) and any("BERT-small" in t for t in texts)
    assert any("random ablation" in t for t in texts)
    title = fig._suptitle.get_text()
    assert "ours (quick profile): 5 runs drawn, 1 excluded" in title
    ticks = [t.get_text() for t in axes[0].get_xticklabels()]
    assert ticks == ["Inside-Contact\nInside", "Inside-Contact\nContact"]
    plt.close(fig)


def test_excluded_runs_are_not_drawn(ours, paper):
    fig = modularity_figure(ours, paper)
    ablation_ax = fig.get_axes()[1]
    drawn = np.concatenate([c.get_offsets()[:, 1] for c in ablation_ax.collections])
    assert not np.isclose(drawn, -0.7).any()  # the excluded run's ablation score
    assert np.isclose(drawn, -0.4).any()
    plt.close(fig)


def test_one_domain_single_row_and_full(ours, paper):
    fig = modularity_figure(ours.iloc[[0]], paper)
    assert len(fig.get_axes()) == 2
    plt.close(fig)
    full = pd.DataFrame([fake_row(profile="full", subnetwork=0.7)])
    fig = modularity_figure(ours.iloc[[4]], paper, full=full)
    assert [t.split(",")[0] for t in left_titles(fig)] == [
        "(a) vision",
        "(b) vision",
        "(c) language",
        "(d) language",
    ]
    assert any(t.startswith(FULL_LABEL) for t in legend_texts(fig))
    plt.close(fig)


def test_summary_numbers_equal_hand_computations(ours, paper):
    summary = summary_table(ours, paper)
    mine = summary[summary["source"] == "ours (quick profile)"].set_index("subroutine")
    assert mine.loc["inside", "n_runs"] == 2
    assert mine.loc["inside", "subnetwork_score"] == pytest.approx(0.5)
    assert mine.loc["inside", "ablation_score"] == pytest.approx(-0.3)
    assert mine.loc["inside", "sampled_ablation_score"] == pytest.approx(0.05)
    assert mine.loc["inside", "kept_fraction"] == pytest.approx(0.1)
    assert (mine.loc["contact", "n_runs"], mine.loc["contact", "n_excluded"]) == (1, 1)
    assert mine.loc["contact", "ablation_score"] == pytest.approx(0.0)  # the excluded -0.7 is out
    assert np.isnan(mine.loc["verb", "subnetwork_score"])  # a NaN stays NaN
    # the paper's rows: same task/subroutine, trained regimes, the hand-computed mean
    theirs = summary[(summary["source"] == "paper") & (summary["subroutine"] == "inside")]
    runs = paper[
        (paper["task"] == "inside_contact")
        & (paper["subroutine"] == "inside")
        & (paper["architecture"] == "resnet")
        & (paper["regime"] == "scratch")
    ]
    row = theirs[(theirs["architecture"] == "resnet") & (theirs["regime"] == "scratch")].iloc[0]
    assert row["n_runs"] == len(runs)
    assert row["ablation_score"] == pytest.approx(runs["ablation_score"].mean())
    assert set(summary.loc[summary["source"] == "paper", "task"]) == {
        "inside_contact",
        "sv_agreement",
    }
    assert set(summary.loc[summary["source"] == "paper", "regime"]) <= {"scratch", "pretrained"}
    # language paper runs matched on the variant unless pooled
    lang = summary[(summary["source"] == "paper") & (summary["domain"] == "language")]
    assert set(lang["variant"]) == {"singular"}
    pooled = summary_table(ours, paper, pool_variants=True)
    assert set(pooled.loc[pooled["domain"] == "language", "variant"]) == {"pooled"}


def test_verdicts(ours, paper):
    verdict = verdicts(summary_table(ours, paper)).set_index("subroutine")["verdict"]
    assert verdict["inside"] == "shows the effect"
    assert verdict["contact"] == "does not show the effect at this scale"
    assert verdict["verb"] == "does not show the effect at this scale"  # NaN subnetwork score


def test_save_figure_writes_three_files(ours, paper, tmp_path):
    fig = modularity_figure(ours, paper)
    summary = summary_table(ours, paper)
    paths = save_figure(fig, tmp_path / "deep" / "modularity", summary)
    plt.close(fig)
    assert [p.name for p in paths] == ["modularity.png", "modularity.pdf", "modularity.csv"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert plt.imread(paths[0]).shape[1] <= 1600  # legible at README width
    assert len(pd.read_csv(paths[2])) == len(summary)


def test_base_model_table_reshapes_pm_accuracies(ours):
    table = base_model_table(ours).set_index("base_model_id")
    assert len(table) == 3
    first = table.loc["inside_contact-resnet-scratch-none-0"]
    assert (first["pm_inside_acc"], first["pm_contact_acc"], first["n_runs"]) == (0.8, 0.9, 3)
    failed = table.loc["inside_contact-resnet-scratch-none-1"]
    assert failed["excluded"] and failed["base_comp_test_acc"] == 0.5
    assert "0.5 < 0.9" in failed["exclusion_note"]


def test_save_figure_with_runs_writes_their_provenance(ours, paper, tmp_path):
    import json

    fig = modularity_figure(ours, paper)
    runs = ours.assign(
        profile="quick", device="cpu", torch_version="2.13.0", git_rev="abc1234", wall_time_s=2.0
    )
    paths = save_figure(fig, tmp_path / "modularity", summary_table(ours, paper), runs=runs)
    plt.close(fig)
    assert paths[-1].name == "modularity.provenance.json"
    record = json.loads(paths[-1].read_text())
    assert record["runs"]["git_revs"] == ["abc1234"] and record["runs"]["profiles"] == ["quick"]
    assert record["runs"]["n_runs"] == len(runs)
    assert {"device", "torch_version"} <= set(record["drawn_with"])


def test_title_states_the_finding_computed_from_the_runs(ours, paper):
    fig = modularity_figure(ours, paper)  # inside shows the effect, contact (0.0 vs 0.0) not
    assert fig._suptitle.get_text().startswith("Selective subnetworks in 2 of 4 cells drawn")
    ablation = left_titles(fig)[1]  # inside -0.3 and contact 0.0 against random +0.05 and 0.0
    assert "hurts its own subroutine more (mean ablation score -0.20, random ablation +0.03)" in (
        ablation.replace("\n", " ")
    )
    plt.close(fig)
    modular = ours.iloc[[0, 1]]
    fig = modularity_figure(modular, paper)
    assert fig._suptitle.get_text().startswith("Selective subnetworks in every cell drawn")
    plt.close(fig)
    flat = ours.iloc[[0, 1]].assign(ablation_score=0.02, sampled_ablation_score=0.0)
    fig = modularity_figure(flat, paper)
    assert fig._suptitle.get_text().startswith("No cell drawn shows a selective subnetwork")
    assert "No selective effect of ablating" in left_titles(fig)[1].replace("\n", " ")
    plt.close(fig)


def test_colour_is_the_regime_in_every_series_of_ours(ours, paper):
    fig = modularity_figure(ours, paper)
    faces = {
        tuple(np.round(c[:3], 3))
        for ax in fig.get_axes()
        for coll in ax.collections
        for c in coll.get_facecolors()
    }
    for regime in ("scratch", "pretrained"):  # ours: vision scratch, language pretrained
        assert tuple(np.round(COLORS[regime], 3)) in faces, regime
    plt.close(fig)
