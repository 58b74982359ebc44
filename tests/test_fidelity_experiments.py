"""Issue #12 on the experiments side: the method as the paper ran it, its controls sound.

Complement ablations that cannot run are NaN with a reason (item 1); the untrained control
takes its trained twin's mask setting (2); rows say whether their mask passed, and trained
runs whose mask did not are excluded (3); "sparsest" is measured against the whole model (7);
cache keys carry the code (8, see also tests/test_cache.py); lambdas are a geometric ladder
whose emptied rungs stop early, and its sensitivity is a table (9).
"""

from __future__ import annotations

import math
from dataclasses import replace

import matplotlib
import numpy as np
import pandas as pd
import pytest
from fake_runs import run_identity

from sclib.experiments import runner
from sclib.experiments.base_models import base_model
from sclib.experiments.cache import Cache
from sclib.experiments.describe import included_cells
from sclib.experiments.profile_settings import PROFILES
from sclib.experiments.profiles import Cell, MaskSetting, lambda_ladder, tiny_profile
from sclib.experiments.runner import run_cell
from sclib.experiments.search import maskable_weights, passes, select_setting
from sclib.experiments.sensitivity import lambda_sensitivity
from sclib.masks import add_masks
from sclib.models.toy import toy_mlp
from sclib.stats.reference import paper_runs
from sclib.tasks import get_task
from sclib.tasks.vision import GENERATOR_CODE
from sclib.train import MaskTrainConfig, train_mask

matplotlib.use("Agg")

TINY = replace(
    tiny_profile(PROFILES[("language", "quick")]), n_train=16, n_subroutine=16, n_val=8, n_test=8
)
OPEN = replace(TINY, inits=(2.0,), lambdas=(0.0,))  # masks that keep (nearly) everything
NEVER = replace(TINY, lambdas=(1e-3, 1e-5), selection_threshold=1.01)  # no mask can pass
CELL = Cell("sv_agreement", "minilm", "subject", "scratch", "singular")
CONTROL = replace(CELL, regime="untrained")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return Cache(tmp_path_factory.mktemp("cache"))


# ------------------------------------------------------------------ item 1


def test_complement_ablation_that_cannot_run_is_nan_with_its_reason(cache):
    row = run_cell(CELL, OPEN, cache, progress=False)
    assert row["kept_fraction"] > 0.5
    for col in ("complement_abl_acc_target", "complement_abl_acc_other"):
        assert math.isnan(row[col])
    assert math.isnan(row["complement_ablation_score"])
    assert "complement is smaller than the subnetwork" in row["complement_note"]
    assert all(not math.isnan(row[c]) for c in ("ablation_score", "sampled_ablation_score"))


# ------------------------------------------------------------------ items 2 and 3


def test_untrained_control_takes_its_trained_twins_setting(cache, monkeypatch):
    searched, fixed = [], []
    real_search, real_at = runner.searched_mask, runner.mask_at

    def spy_search(cell, *args, **kwargs):
        searched.append(cell)
        return real_search(cell, *args, **kwargs)

    def spy_at(cell, profile, setting, *args, **kwargs):
        fixed.append((cell, setting))
        return real_at(cell, profile, setting, *args, **kwargs)

    monkeypatch.setattr(runner, "searched_mask", spy_search)
    monkeypatch.setattr(runner, "mask_at", spy_at)
    control = run_cell(CONTROL, NEVER, cache, progress=False)
    twin = run_cell(CELL, NEVER, cache, progress=False)
    setting = MaskSetting(
        twin["mask_l0_init"], twin["mask_lr"], twin["masked_stages"], twin["l0_lambda"]
    )
    assert searched == [CELL]  # the twin is searched, the control never
    assert fixed == [(CONTROL, setting)]
    assert control["l0_lambda"] == twin["l0_lambda"] and control["n_grid_points"] == 1
    assert control["control_of"] == "scratch" and twin["control_of"] == ""
    # reported whether or not its mask passes; here nothing can pass
    assert control["mask_passed"] is False and control["excluded"] is False


def test_run_whose_mask_never_passed_is_scored_marked_and_excluded(cache):
    row = run_cell(CELL, NEVER, cache, progress=False)
    assert row["mask_passed"] is False and row["n_grid_points"] == 2  # the whole ladder
    assert row["excluded"] and row["exclusion_reason"] == "no subnetwork passed"
    assert not math.isnan(row["ablation_score"])  # still scored
    control = run_cell(CONTROL, NEVER, cache, progress=False)
    passing = run_cell(CELL, OPEN, cache, progress=False)  # tiny: threshold 0, always passes
    assert passing["mask_passed"] and not passing["excluded"]
    assert passing["exclusion_reason"] == ""
    rows = pd.DataFrame([row, control, passing])
    assert included_cells(rows) == [CONTROL, CELL]  # the failed trained run is left out


def test_low_base_model_is_excluded_with_its_reason(cache):
    row = run_cell(CELL, replace(OPEN, exclusion_threshold=1.01), cache, progress=False)
    assert row["excluded"] and row["mask_passed"]
    assert row["exclusion_reason"] == "base model below the exclusion threshold"


def test_modularity_caption_counts_runs_without_a_passing_mask():
    from sclib.plots.modularity import modularity_figure

    def fake(base_seed: int, passed: bool, excluded: bool) -> dict:
        return {
            **run_identity(base_seed=base_seed),
            "subnetwork_score": 0.5, "ablation_score": -0.3, "sampled_ablation_score": 0.0,
            "sub_l0_fraction": 0.1, "base_comp_test_acc": 1.0, "excluded": excluded,
            "mask_passed": passed,
        }  # fmt: skip

    ours = pd.DataFrame([fake(0, True, False), fake(1, False, True), fake(2, True, True)])
    fig = modularity_figure(ours, paper_runs())
    title = fig._suptitle.get_text()
    assert "1 runs drawn, 2 excluded (1 with no subnetwork passing)" in title
    matplotlib.pyplot.close(fig)


# ------------------------------------------------------------------ item 7


def test_sparsest_is_measured_against_every_maskable_weight_of_the_model():
    small_region = MaskSetting(0.1, 1e-2, "stage4", 1e-6)  # 20% of a small region
    whole = MaskSetting(0.1, 1e-2, "all", 1e-6)  # 5% of everything
    candidates = [
        (small_region, {"val_mask_task_acc": 1.0, "kept_fraction": 0.2, "kept_fraction_of_model": 0.01}),
        (whole, {"val_mask_task_acc": 1.0, "kept_fraction": 0.05, "kept_fraction_of_model": 0.05}),
    ]  # fmt: skip
    (chosen, _), passed = select_setting(candidates, 0.9)
    assert chosen == small_region and passed


def test_rows_carry_both_kept_fractions(cache):
    row = run_cell(CELL, OPEN, cache, progress=False)
    base, _ = base_model(CELL, OPEN, cache, progress=False)
    n = maskable_weights(base)
    assert row["kept_fraction_of_model"] == pytest.approx(row["sub_l0"] / n)
    assert row["kept_fraction"] == pytest.approx(row["sub_l0"] / row["l0_max"])
    assert n > row["l0_max"] and row["kept_fraction_of_model"] < row["kept_fraction"]


# ------------------------------------------------------------------ item 8


def test_datasets_are_keyed_on_their_generators_source():
    task = get_task("inside_contact", image_size=32, cache_dir=None)
    assert task.params("compositional", "test", 4)["code"] == GENERATOR_CODE


# ------------------------------------------------------------------ item 9


def test_lambda_ladders_are_geometric_from_a_lambda_that_empties_the_masks():
    assert lambda_ladder(1e-3, 10**-0.5, 3) == (1e-3, 3.16e-4, 1e-4)
    with pytest.raises(ValueError, match="0 < factor < 1"):
        lambda_ladder(1e-3, 2.0, 3)
    quick = {d: PROFILES[(d, "quick")].lambdas for d in ("vision", "language")}
    assert quick["vision"][0] == 1e-3 and quick["vision"][-1] == 1e-6
    assert quick["language"][0] == 1e-4 and quick["language"][-1] == 1e-8
    for lambdas in quick.values():
        ratios = np.array(lambdas[1:]) / np.array(lambdas[:-1])
        assert np.allclose(ratios, 10**-0.5, rtol=0.01)


def test_a_rung_whose_mask_empties_stops_early():
    task = get_task("toy", dim=8)
    data = task.dataset("subroutine:left", "train", n=200)
    histories = {}
    for stop in (True, False):
        model = toy_mlp(8, hidden=(16, 16), out_dim=8, seed=0)
        masks = add_masks(model, init=0.05)
        config = MaskTrainConfig(
            epochs=3, lr=0.1, l0_lambda=10.0, progress=False, device="cpu", stop_when_empty=stop
        )
        histories[stop] = train_mask(model, masks, data, config)
        assert masks.kept_fraction() == 0
    assert histories[True]["stopped_early"] and len(histories[True]["epoch"]) == 1
    assert not histories[False]["stopped_early"] and len(histories[False]["epoch"]) == 3


def test_a_rung_that_makes_no_progress_by_half_time_stops_and_fails():
    """``stall_min_drop`` (quick): the same training, cut at half-time when the loss has
    not fallen by that fraction; off, nothing changes (no ``stalled`` key: old entries stay
    valid). Whether a loss fell enough is ``train._stalled``'s (its doctest)."""
    task = get_task("toy", dim=8)
    data = task.dataset("subroutine:left", "train", n=200)
    histories = {}
    for drop in (None, 0.99):  # off; a drop no training of 2 epochs makes
        model = toy_mlp(8, hidden=(16, 16), out_dim=8, seed=0)
        masks = add_masks(model, init=0.05)
        config = MaskTrainConfig(
            epochs=4, lr=0.1, l0_lambda=1e-3, progress=False, device="cpu", stall_min_drop=drop
        )
        histories[drop] = train_mask(model, masks, data, config)
    off, stalled = histories[None], histories[0.99]
    assert "stalled" not in off and not off["stopped_early"] and len(off["epoch"]) == 4
    assert stalled["stalled"] and stalled["stopped_early"] and len(stalled["epoch"]) == 2
    assert stalled["ce"] == off["ce"][:2]  # the same first half, then nothing more
    # a stalled rung fails the search whatever its validation accuracy
    assert passes({"val_mask_task_acc": 0.95}, 0.9)
    assert not passes({"val_mask_task_acc": 0.95, "stalled": True}, 0.9)
    with pytest.raises(ValueError, match="stall_min_drop must be None"):
        MaskTrainConfig(stall_min_drop=1.5)


def test_lambda_sensitivity_is_a_table_over_the_whole_ladder(cache):
    profile = replace(TINY, lambdas=lambda_ladder(1e-2, 0.1, 3))
    table = lambda_sensitivity(CELL, profile, cache)
    assert table["l0_lambda"].tolist() == [1e-2, 1e-3, 1e-4]
    columns = {"kept_fraction", "kept_fraction_of_model", "val_mask_task_acc", "mask_passed"}
    assert columns | {"ablation_score", "sampled_ablation_score", "stopped_early"} <= set(table)
    assert table["kept_fraction"].between(0, 1).all() and table["mask_passed"].all()
    before = cache.misses
    assert lambda_sensitivity(CELL, profile, cache).equals(table) and cache.misses == before
