"""sclib.stats.overlap: layer regions, kept fractions, mask overlap against random masks.

The end-to-end tests at the bottom pair cells through
``sclib.experiments.collect_masks.overlap_table``, which loads masks and hands them to
``sclib.stats.overlap``.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, replace

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from sclib.experiments.cache import Cache
from sclib.experiments.collect_masks import (
    intersected_overlap_table,
    mask_tables,
    overlap_for_base,
    overlap_table,
)
from sclib.experiments.profile_settings import PROFILES
from sclib.experiments.profiles import Cell
from sclib.masks import add_masks
from sclib.stats.grading import grade_components
from sclib.stats.overlap import (
    expected_random_iou,
    intersect_seeds,
    intersected_overlap,
    kept_by_layer,
    layer_region,
    mask_overlap,
    overlap_by_region,
)


def _mask(bits: str) -> torch.Tensor:
    return torch.tensor([b == "1" for b in bits])


# ------------------------------------------------------------------ regions and layers


@pytest.mark.parametrize(
    "name, region",
    [
        ("embedder.backbone.stage4.0.shortcut_conv.weight", "stage4"),
        ("embedder.backbone.stem_conv.weight", "stem"),
        ("embedder.mlp.fc2.weight", "mlp"),
        ("embedder.bert.encoder.layer.3.output.dense.weight", "layer.3"),
        ("embedder.backbone.vit.layers.5.mlp.fc1.weight", "layer.5"),  # not the head MLP
        ("embedder.backbone._blocks.7._project_conv.weight", "stage3"),
        ("embedder.backbone._conv_head.weight", "stage4"),
        ("embedder.out.weight", "out"),
        ("0.weight", "0"),
    ],
)
def test_layer_region(name, region):
    assert layer_region(name) == region


def test_kept_by_layer_keeps_network_order_and_takes_a_maskset():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    masks = add_masks(model, init=-1.0)
    with torch.no_grad():
        masks["2.weight"].logits[0] = 1.0  # 3 of 6 kept in the last layer
    table = kept_by_layer(masks)
    assert table["layer"].tolist() == ["0.weight", "2.weight"]
    assert table["position"].tolist() == [0, 1]
    assert table["kept"].tolist() == [0, 3] and table["fraction"].tolist() == [0.0, 0.5]
    assert table["size"].tolist() == [12, 6]
    pd.testing.assert_frame_equal(table, kept_by_layer(masks.kept()))


# ------------------------------------------------------------------------- overlap


def test_mask_overlap_is_exact_per_layer_including_empty_layers():
    a = {"l.0.weight": _mask("1100"), "l.1.weight": _mask("0000"), "l.2.weight": _mask("1010")}
    b = {"l.0.weight": _mask("1010"), "l.1.weight": _mask("0000"), "l.2.weight": _mask("0000")}
    table = mask_overlap(a, b).set_index("layer")
    assert table.loc["l.0.weight", "iou"] == pytest.approx(1 / 3)
    assert table.loc["l.0.weight", ["intersection", "union", "kept_a", "kept_b"]].tolist() == [
        1,
        3,
        2,
        2,
    ]
    assert np.isnan(table.loc["l.1.weight", "iou"])  # both empty: undefined, not 0 or 1
    assert np.isnan(table.loc["l.1.weight", "random_iou_mean"])
    assert table.loc["l.2.weight", "iou"] == 0.0 and table.loc["l.2.weight", "random_iou_mean"] == 0
    assert mask_overlap(a, a)["iou"].dropna().eq(1.0).all()


def test_mask_overlap_names_must_match():
    with pytest.raises(ValueError, match="layers differ"):
        mask_overlap({"a": _mask("1")}, {"b": _mask("1")})


def test_random_iou_matches_the_analytic_expectation_for_a_large_layer():
    gen = torch.Generator().manual_seed(0)
    n = 200_000
    a = {"w": torch.rand(n, generator=gen) < 0.1}
    b = {"w": torch.rand(n, generator=gen) < 0.3}
    row = mask_overlap(a, b, seed=1, n_random=50).iloc[0]
    analytic = expected_random_iou(n, row["kept_a"], row["kept_b"])
    assert analytic == pytest.approx(0.03 / 0.37, rel=0.02)
    assert row["random_iou_mean"] == pytest.approx(analytic, rel=0.01)
    assert row["random_iou_low"] <= row["random_iou_mean"] <= row["random_iou_high"]
    assert row["iou"] == pytest.approx(analytic, rel=0.05)  # a and b are independent too
    again = mask_overlap(a, b, seed=1, n_random=50).iloc[0]
    assert again["random_iou_low"] == row["random_iou_low"]  # same seed, same draws


def test_random_iou_draws_match_literal_random_masks():
    """The hypergeometric shortcut has the distribution of drawn random masks' IoU."""
    n, ka, kb, draws = 500, 60, 90, 400
    gen = torch.Generator().manual_seed(0)
    literal = []
    for _ in range(draws):
        a, b = torch.zeros(n, dtype=torch.bool), torch.zeros(n, dtype=torch.bool)
        a[torch.randperm(n, generator=gen)[:ka]] = True
        b[torch.randperm(n, generator=gen)[:kb]] = True
        literal.append(float((a & b).sum() / (a | b).sum()))
    a, b = torch.zeros(n, dtype=torch.bool), torch.zeros(n, dtype=torch.bool)
    a[:ka], b[-kb:] = True, True
    row = mask_overlap({"w": a}, {"w": b}, n_random=draws).iloc[0]
    assert row["random_iou_mean"] == pytest.approx(np.mean(literal), abs=0.005)
    lo, hi = np.percentile(literal, [2.5, 97.5])
    assert row["random_iou_low"] == pytest.approx(lo, abs=0.015)
    assert row["random_iou_high"] == pytest.approx(hi, abs=0.015)


def test_overlap_by_region_pools_sums_not_means():
    a = {"x.mlp.fc1.weight": _mask("1100"), "x.mlp.fc2.weight": _mask("11111111")}
    b = {"x.mlp.fc1.weight": _mask("0011"), "x.mlp.fc2.weight": _mask("11111111")}
    pooled = overlap_by_region(mask_overlap(a, b)).iloc[0]
    assert pooled["region"] == "mlp" and pooled["n_layers"] == 2
    assert pooled["iou"] == pytest.approx(8 / 12)  # the mean of per-layer IoUs would be 0.5


# ------------------------------------------------------- the paper's way: seeds intersected


def test_intersect_seeds_keeps_what_every_seed_keeps():
    seeds = [
        {"l.0.w": _mask("1110"), "l.1.w": _mask("11")},
        {"l.0.w": _mask("0111"), "l.1.w": _mask("10")},
        {"l.0.w": _mask("1101"), "l.1.w": _mask("11")},
    ]
    out = intersect_seeds(seeds)
    assert out["l.0.w"].tolist() == [False, True, False, False]
    assert out["l.1.w"].tolist() == [True, False]
    assert seeds[0]["l.0.w"].tolist() == [True, True, True, False]  # inputs untouched
    with pytest.raises(ValueError, match="other layers than mask 0: \\['l.9.w'\\]"):
        intersect_seeds([{"l.0.w": _mask("1")}, {"l.0.w": _mask("1"), "l.9.w": _mask("1")}])
    with pytest.raises(ValueError, match="shapes"):
        intersect_seeds([{"l.0.w": _mask("1")}, {"l.0.w": _mask("11")}])
    with pytest.raises(ValueError, match="no masks"):
        intersect_seeds([])


def test_intersected_overlap_intersects_seeds_before_the_iou():
    """Single masks overlap a lot; what every seed keeps, far less: the paper's measure."""
    a = [{"w": _mask("11110000")}, {"w": _mask("11101000")}, {"w": _mask("11100100")}]
    b = [{"w": _mask("00111100")}, {"w": _mask("00110110")}, {"w": _mask("00110011")}]
    row = intersected_overlap(a, b).iloc[0]
    # a's intersection: 11100000 (3 kept), b's: 00110000 (2 kept); 1 shared, 4 in the union
    assert row[["n_seeds_a", "n_seeds_b", "kept_a", "kept_b"]].tolist() == [3, 3, 3, 2]
    assert row[["intersection", "union"]].tolist() == [1, 4] and row["iou"] == 0.25
    assert mask_overlap(a[0], b[0]).iloc[0]["iou"] == pytest.approx(2 / 6)  # one seed each
    # the random baseline is size-matched to the intersections, not to the single masks
    assert row["expected_iou"] == pytest.approx(expected_random_iou(8, 3, 2))
    # one seed per subroutine: exactly the single-mask overlap
    single = intersected_overlap(a[:1], b[:1]).drop(columns=["n_seeds_a", "n_seeds_b"])
    pd.testing.assert_frame_equal(single, mask_overlap(a[0], b[0]))


def test_intersected_overlap_table_groups_mask_seeds_per_subroutine(monkeypatch):
    """load_cell replaced by hand-made masks: 2 seeds of subject against 2 of verb."""
    masks = {
        ("subject", 0): {"l.1.w": _mask("1110")},
        ("subject", 1): {"l.1.w": _mask("1101")},
        ("verb", 0): {"l.1.w": _mask("0111")},
        ("verb", 1): {"l.1.w": _mask("0110")},
    }

    def fake_load_cell(cell, profile, cache):
        row = {"base_model_id": "b0", "masked_stages": "from_layer_1", "profile": "tiny"}
        row.update(asdict(cell), domain="language")
        return None, masks[cell.subroutine, cell.mask_seed], row

    monkeypatch.setattr("sclib.experiments.collect_masks.load_cell", fake_load_cell)
    verb = replace(CELL, subroutine="verb")
    cell_list = [CELL, replace(CELL, mask_seed=1), verb, replace(verb, mask_seed=1)]
    table = intersected_overlap_table(cell_list, TINY)
    assert len(table) == 1
    row = table.iloc[0]
    assert row[["method", "subroutine_a", "subroutine_b"]].tolist() == [
        "intersect_seeds",
        "subject",
        "verb",
    ]
    assert row["n_seeds_a"] == row["n_seeds_b"] == 2 and "mask_seed_a" not in table
    assert row["iou"] == pytest.approx(1 / 3)  # subject 1100, verb 0110: 1 shared of 3
    # one mask seed per subroutine: no intersected table, only single masks
    assert intersected_overlap_table([CELL, verb], TINY).empty
    # mask_tables carries both, told apart by method; region pooling keeps them apart
    overlap, _ = mask_tables({"language": TINY}, {"language": cell_list})
    assert overlap.groupby("method").size().to_dict() == {"intersect_seeds": 1, "single_mask": 2}
    pooled = overlap_by_region(overlap)
    assert sorted(pooled["method"]) == ["intersect_seeds", "single_mask", "single_mask"]


# ------------------------------------------------------------------- end to end

QUICK = PROFILES[("language", "quick")]
TINY = replace(
    QUICK,
    name="tiny",
    model_kwargs=(("num_layers", 2),),
    n_train=16,
    n_subroutine=16,
    n_val=8,
    n_test=8,
    regions=("from_layer_1",),
    lambdas=(1e-6,),
    base=replace(QUICK.base, epochs=1, progress=False),
    mask=replace(QUICK.mask, epochs=1, progress=False),
)
# untrained: no base training and no pretrained weights to load, so the test stays ~10 s
CELL = Cell("sv_agreement", "minilm", "subject", "untrained", "singular")


def test_bad_pairs_fail_before_anything_runs(tmp_path):
    cache = Cache(tmp_path)
    with pytest.raises(ValueError, match="different base models.*base_seed"):
        overlap_for_base(CELL, replace(CELL, subroutine="verb", base_seed=1), TINY, cache)
    with pytest.raises(ValueError, match="the same"):
        overlap_for_base(CELL, CELL, TINY, cache)
    with pytest.raises(ValueError, match="unknown across"):
        overlap_table([CELL], TINY, cache, across="seeds")
    assert cache.misses == 0


def test_overlap_table_pairs_cells_and_compares_shared_layers(monkeypatch):
    """load_cell replaced by hand-made masks: pairing, identifiers, differing regions."""
    masks = {
        ("subject", 0): {"l.1.w": _mask("1100"), "l.2.w": _mask("1111")},
        ("subject", 1): {"l.1.w": _mask("1000"), "l.2.w": _mask("1111")},
        ("verb", 0): {"l.1.w": _mask("0011")},  # a narrower region was selected
    }

    def fake_load_cell(cell, profile, cache):
        region = "from_layer_2" if cell.subroutine == "verb" else "from_layer_1"
        row = {"base_model_id": "b0", "masked_stages": region, "profile": "tiny"}
        return None, masks[cell.subroutine, cell.mask_seed], row

    monkeypatch.setattr("sclib.experiments.collect_masks.load_cell", fake_load_cell)
    cell_list = [CELL, replace(CELL, mask_seed=1), replace(CELL, subroutine="verb")]
    seeds = overlap_table(cell_list, TINY, across="mask_seeds")
    assert seeds["comparison"].unique().tolist() == ["mask_seeds"]
    assert seeds["iou"].tolist() == [0.5, 1.0]
    with pytest.warns(UserWarning, match="comparing the 1 shared layers, leaving out 1"):
        subs = overlap_table(cell_list, TINY)
    assert subs[["subroutine_a", "subroutine_b", "layer", "iou"]].values.tolist() == [
        ["subject", "verb", "l.1.w", 0.0]
    ]
    assert subs[["masked_stages_a", "masked_stages_b"]].values.tolist() == [
        ["from_layer_1", "from_layer_2"]
    ]


@pytest.mark.slow
def test_overlap_of_two_subroutines_in_one_base_model(tmp_path):
    cache = Cache(tmp_path)
    verb = replace(CELL, subroutine="verb")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # complement-sampled ablation notes
        table = overlap_table([CELL, verb], TINY, cache)
        rows = pd.DataFrame(
            [cache.load("runs", {"cell": c, "profile": TINY}) for c in (CELL, verb)]
        )
    assert set(table["comparison"]) == {"subroutines"}
    assert table[["subroutine_a", "subroutine_b"]].drop_duplicates().values.tolist() == [
        ["subject", "verb"]
    ]
    assert table["base_model_id"].nunique() == 1 and set(table["region"]) == {"layer.1"}
    assert table["kept_a"].sum() == rows["sub_l0"].iloc[0]
    assert table["kept_b"].sum() == rows["sub_l0"].iloc[1]
    assert table["iou"].between(0, 1).all() and len(table) == 6  # q, k, v, out, ffn in, out
    assert len(overlap_by_region(table)) == 1
    assert set(grade_components(rows)["grade_kind"]) == {"random_corrected"}  # our rows
