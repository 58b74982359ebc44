"""sclib.plots.decomposition, decomposition_figure and decomposition_layers: notebook 04's
tables and figures on synthetic runs and hand-made masks."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from fake_runs import run_identity

import sclib.experiments.collect_masks as collect_masks
import sclib.plots.decomposition as pdc
from sclib.experiments.describe import included_cells
from sclib.experiments.profiles import Cell
from sclib.plots.decomposition_figure import (
    FIGURE_STEMS,
    decomposition_figures,
    grades_figure,
    scores_figure,
)
from sclib.plots.decomposition_layers import (
    layers_figure,
    overlap_figure,
    paper_iou_range,
    region_key,
)
from sclib.plots.style import save_figure
from sclib.stats.overlap import mask_overlap
from sclib.stats.reference import paper_runs
from sclib.stats.vocabulary import REGIMES

TASKS = {"vision": ("inside_contact", "resnet"), "language": ("sv_agreement", "minilm")}
SUBS = {"vision": ("inside", "contact"), "language": ("subject", "verb")}
# vision: two stage-3 convs, one stage-4 conv, the MLP head; language: two encoder layers
LAYERS = {
    "vision": [
        "embedder.backbone.stage3.0.conv1.weight",
        "embedder.backbone.stage3.0.conv2.weight",
        "embedder.backbone.stage4.0.conv1.weight",
        "embedder.mlp.fc1.weight",
    ],
    "language": [
        "embedder.bert.encoder.layer.0.output.dense.weight",
        "embedder.bert.encoder.layer.1.output.dense.weight",
    ],
}


def fake_row(
    domain: str,
    subroutine: str,
    regime: str = "scratch",
    base_seed: int = 0,
    mask_seed: int = 0,
    zero_target: float = 0.4,
    excluded: bool = False,
) -> dict:
    """A run_cell row with the columns the figure reads."""
    task, arch = TASKS[domain]
    trained = regime != "untrained"
    base = 0.98 if trained else 0.25
    return {
        **run_identity(
            task,
            subroutine,
            arch,
            regime,
            variant="singular" if domain == "language" else "none",
            base_seed=base_seed,
            mask_seed=mask_seed,
            pretraining="minilm" if regime == "pretrained" else "none",
        ),
        "base_comp_test_acc": base,
        "base_pm_target_acc": base,
        "base_pm_other_acc": base,
        "sub_acc_target": 0.95,
        "sub_acc_other": 0.45,
        "zero_abl_acc_target": zero_target if trained else 0.25,
        "zero_abl_acc_other": 0.9 if trained else 0.25,
        "sampled_abl_acc_target": 0.97 if trained else 0.25,
        "sampled_abl_acc_other": 0.97 if trained else 0.25,
        "subnetwork_score": 0.5,
        "ablation_score": (max(zero_target, 0.25) - 0.9) if trained else 0.0,
        "sampled_ablation_score": 0.0,
        "excluded": excluded,
    }


@pytest.fixture
def ours() -> pd.DataFrame:
    rows = []
    for domain in ("vision", "language"):
        regimes = ("scratch", "untrained") if domain == "vision" else REGIMES
        for regime in regimes:
            for sub in SUBS[domain]:
                for seed in (0, 1):
                    rows.append(
                        fake_row(domain, sub, regime, base_seed=seed, zero_target=0.3 + 0.2 * seed)
                    )
    rows.append(fake_row("vision", "inside", base_seed=5, excluded=True))
    return pd.DataFrame(rows)


def hand_masks(domain: str, sub: str, regime: str) -> dict[str, torch.Tensor]:
    """Masks of 10 weights per layer: subroutine A keeps 0-3, B keeps 2-5 (IoU 2/6)."""
    start = 0 if sub == SUBS[domain][0] else 2
    keep = torch.zeros(10, dtype=torch.bool)
    keep[start : start + 4] = True
    return {name: keep.clone() for name in LAYERS[domain]}


@pytest.fixture
def overlap(ours) -> pd.DataFrame:
    tables = []
    for (domain, regime, seed), _ in ours.groupby(["domain", "regime", "base_seed"]):
        if seed == 5:
            continue
        a, b = (hand_masks(domain, s, regime) for s in SUBS[domain])
        table = mask_overlap(a, b, seed=0, n_random=5)
        task, arch = TASKS[domain]
        ids = {
            "comparison": "subroutines",
            "task": task,
            "architecture": arch,
            "regime": regime,
            "variant": "none",
            "base_seed": seed,
            "base_model_id": f"{domain}-{regime}-{seed}",
            "subroutine_a": SUBS[domain][0],
            "subroutine_b": SUBS[domain][1],
            "mask_seed_a": 0,
            "mask_seed_b": 0,
            "profile": "quick",
        }
        for i, (col, value) in enumerate(ids.items()):
            table.insert(i, col, value)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


@pytest.fixture
def kept(ours, monkeypatch) -> pd.DataFrame:
    by_cell = {
        Cell(r.task, r.architecture, r.subroutine, r.regime, r.variant, r.base_seed, r.mask_seed): r
        for r in ours.itertuples(index=False)
    }

    def fake_load(cell, profile, cache):
        row = by_cell[cell]._asdict() | {"masked_stages": "stage3+"}
        return None, hand_masks(row["domain"], cell.subroutine, cell.regime), row

    monkeypatch.setattr(collect_masks, "load_cell", fake_load)
    return collect_masks.kept_table(included_cells(ours), "quick")


@pytest.fixture
def tables(ours, overlap, kept) -> dict[str, pd.DataFrame]:
    return pdc.decomposition_tables(ours, paper_runs(), overlap, kept, n_boot=200)


def test_kept_table_is_kept_by_layer_per_cell(kept):
    assert np.allclose(kept["fraction"], 0.4)
    assert {"domain", "subroutine", "regime", "base_model_id", "position", "region"} <= set(kept)
    vision = kept[(kept["domain"] == "vision")]
    assert vision.groupby(["base_model_id", "subroutine"])["region"].apply(list).iloc[0] == [
        "stage3",
        "stage3",
        "stage4",
        "mlp",
    ]


def test_region_order_and_paper_ranges():
    regions = ["mlp", "stage4", "layer.10", "stem", "layer.2", "stage3"]
    assert sorted(regions, key=region_key) == [
        "stem",
        "stage3",
        "stage4",
        "layer.2",
        "layer.10",
        "mlp",
    ]
    assert paper_iou_range("stage3") == (0.03, 0.12)
    assert paper_iou_range("mlp") == (0.24, 0.32)
    assert paper_iou_range("layer.1") is None


def test_tables_match_the_paper_by_task_and_leave_out_excluded(tables):
    a, b = tables["ablation"], tables["gap"]
    paper = a[a["source"] == "paper"]
    assert set(paper["task"]) == {"inside_contact", "sv_agreement"}
    assert set(paper["variant"]) <= {"none", "singular"}
    assert "pruned" not in set(paper["regime"])
    assert set(a[a["source"] != "paper"]["ablation"]) == {"zero", "randomly_sampled"}
    assert set(paper["ablation"]) == {"zero"}
    assert not (a["base_model_id"] == "vision-scratch-5").any()
    # the gap to the ideal score splits into its two parts: 0.2 above chance, 0.05 missed
    ours_b = b[b["source"] != "paper"]
    assert np.allclose(ours_b["other_above_chance"], 0.2)
    assert np.allclose(ours_b["score_gap"], 0.25)
    assert any(g.startswith("language · paper · pretrained (MLM)") for g in b["group"])


def test_overlap_is_pooled_per_region_with_random_expectation(tables):
    c = tables["overlap"]
    stage3 = c[(c["domain"] == "vision") & (c["region"] == "stage3")]
    assert np.allclose(stage3["iou"], 2 / 6)  # 2 shared of 6 kept, pooled over 2 layers
    assert np.allclose(stage3["random_expected_iou"], 0.16 / 0.64)  # p = q = 0.4


def test_grades_label_their_variant(tables):
    e = tables["grades"]
    ours = e[e["source"] != "paper"]
    assert set(ours["grade_kind"]) == {"random_corrected", "zero_only"}
    assert set(e[e["source"] == "paper"]["grade_kind"]) == {"zero_only"}
    assert "untrained" not in set(ours["regime"])  # no headroom: not graded
    # (0.98 - max(0.3, .25)) - (0.98 - 0.9) over 0.73 headroom, seeds 0 and 1 averaged
    inside = ours[(ours["subroutine"] == "inside") & (ours["grade_kind"] == "zero_only")]
    expected = np.mean([(0.9 - z) / 0.73 for z in (0.3, 0.5)])
    assert inside["grade_mean"].iloc[0] == pytest.approx(expected)
    assert inside["n_base_models"].iloc[0] == 2


def test_figure_numbers(tables):
    numbers = pdc.figure_numbers(tables)
    assert set(numbers) == {"ablation", "gap", "overlap", "kept", "grades"}
    assert np.allclose(numbers["kept"]["kept_fraction"], 0.4)
    assert np.allclose(numbers["overlap"]["iou_over_random"], (2 / 6) / 0.25)


def panel_letters_of(fig) -> list[str]:
    """The panel letters of a figure's titled axes, in order."""
    titles = [ax.get_title(loc="left") for ax in fig.get_axes()]
    return [t[1] for t in titles if t.startswith("(") and t[2] == ")"]


def test_four_figures_one_message_each_with_their_panels(tables, tmp_path):
    figures = decomposition_figures(tables)
    assert tuple(figures) == FIGURE_STEMS
    for stem, (fig, data) in figures.items():
        letters = panel_letters_of(fig)
        assert letters == ["a", "b"], stem  # each letter once, from (a): two domains, or (a)(b)
        assert data.columns[0] == "panel" and set(data["panel"]) == {"a", "b"}, stem
        paths = save_figure(fig, tmp_path / stem, data)
        assert plt.imread(paths[0]).shape[1] <= 1600, stem  # legible at README width
        plt.close(fig)
    overlap = figures["mask_overlap"][1]
    assert set(overlap.loc[overlap["panel"] == "a", "domain"]) == {"vision"}
    scores = figures["imperfect_decomposition"][1]
    assert "score" in scores and "other_above_chance" in scores


def test_overlap_figure_shows_the_papers_bands_on_vision(tables):
    fig = overlap_figure(tables)
    vision, language = fig.get_axes()[:2]
    assert vision.get_title(loc="left").startswith("(a) vision, ResNet (small)")
    assert language.get_title(loc="left").startswith("(b) language, MiniLM")
    labels = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
    assert "paper: IoU 0.03-0.12 (conv layers), 3-seed intersections" in labels
    assert "paper: IoU 0.24-0.32 (MLP), 3-seed intersections; MLP masks not annealed" in labels
    plt.close(fig)


def test_figure_titles_state_their_findings_from_the_data(tables, ours, overlap, kept):
    # hand-made masks: IoU 1/3 against 0.25 for random masks of their size; both keep 40%
    fig = overlap_figure(tables)
    title = fig._suptitle.get_text().replace("\n", " ")
    assert title.startswith("The two subroutines' masks share about as many weights as random")
    assert "vision: IoU 0.33 vs 0.25" in title
    plt.close(fig)
    shared = overlap.assign(intersection=overlap["union"])  # identical masks: IoU 1
    more = pdc.decomposition_tables(ours, None, shared, kept, n_boot=50)
    fig = overlap_figure(more)
    assert fig._suptitle.get_text().startswith("The two subroutines' masks share more weights")
    plt.close(fig)
    # scores: our trained runs are 0.2 above chance on the other subroutine: imperfect
    fig = scores_figure(tables)
    assert fig._suptitle.get_text().startswith("Decomposition is imperfect")
    plt.close(fig)
    clean = ours.assign(sub_acc_other=0.25, subnetwork_score=0.7)
    fig = scores_figure(pdc.decomposition_tables(clean, None, overlap, kept, n_boot=50))
    assert fig._suptitle.get_text().startswith("Decomposition is clean in every run")
    plt.close(fig)
    fig = grades_figure(tables)
    assert fig._suptitle.get_text().startswith("Decomposition is graded")
    plt.close(fig)
    fig = layers_figure(tables)
    assert "keep the largest fraction of weights in" in fig._suptitle.get_text()
    plt.close(fig)


def test_figures_with_one_domain_and_no_paper(ours, overlap, kept):
    only = ours[ours["domain"] == "language"]
    tables = pdc.decomposition_tables(
        only,
        None,
        overlap[overlap["architecture"] == "minilm"],
        kept[kept["domain"] == "language"],
        n_boot=50,
    )
    assert set(tables["ablation"]["source"]) == {"ours (quick profile)"}
    for stem, (fig, data) in decomposition_figures(tables).items():
        titles = [ax.get_title(loc="left") for ax in fig.get_axes()]
        assert not any("vision" in t for t in titles), stem
        assert set(data["panel"]) <= {"a", "b"}, stem
        plt.close(fig)


def test_figures_without_masks_say_so(ours):
    tables = pdc.decomposition_tables(ours, None, pd.DataFrame(), pd.DataFrame(), n_boot=50)
    assert tables["overlap"].empty and "random_expected_iou" in tables["overlap"]
    texts = []
    for fig, _ in decomposition_figures(tables).values():
        texts += [t.get_text() for ax in fig.get_axes() for t in ax.texts]
        plt.close(fig)
    assert "no pairs of masks" in texts and "no masks" in texts


def test_seed_intersections_are_drawn_and_counted_apart(ours, overlap, kept):
    """Rows of method intersect_seeds (the paper's measure) never pool with single masks."""
    single = overlap.assign(method="single_mask", n_seeds_a=1, n_seeds_b=1)
    paper_way = single.assign(method="intersect_seeds", n_seeds_a=3, n_seeds_b=3)
    paper_way = paper_way.assign(intersection=0, union=8, iou=0.0)
    both = pd.concat([single, paper_way], ignore_index=True)
    tables = pdc.decomposition_tables(ours, None, both, kept, n_boot=50)
    c = pdc.figure_numbers(tables)["overlap"].set_index("method")
    assert np.allclose(c.loc["single_mask", "iou"], 2 / 6)
    assert np.allclose(c.loc["intersect_seeds", "iou"], 0.0)
    fig = overlap_figure(tables)
    labels = fig.get_axes()[0].get_legend_handles_labels()[1]
    assert "ours, scratch: IoU of mask-seed intersections" in labels
    assert "IoU 0.33 vs 0.25" in fig._suptitle.get_text()  # single masks only, not the 0.0
    plt.close(fig)


def test_caption_counts_the_runs_left_out(tables, ours):
    runs = ours.assign(excluded=False, mask_passed=True)
    runs.loc[runs.index[:2], ["excluded", "mask_passed"]] = [True, False]
    fig = scores_figure(tables, runs=runs)
    title = fig._suptitle.get_text()
    assert f"{len(runs) - 2} runs drawn, 2 excluded (2 with no subnetwork passing)" in title
    plt.close(fig)
