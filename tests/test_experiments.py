"""The experiment runner end to end on a tiny profile (seconds, not minutes)."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pandas as pd
import pytest
import torch

from sclib.experiments.base_models import base_model
from sclib.experiments.cache import Cache
from sclib.experiments.collect import cached_runs, load_cell
from sclib.experiments.collect_masks import mask_tables
from sclib.experiments.probe import CONDITIONS, probe_table, signal_by_condition
from sclib.experiments.profile_settings import PROFILES, get_profile, notebook_profiles
from sclib.experiments.profiles import Cell, MaskSetting, cells, tiny_profile
from sclib.experiments.runner import iter_grid, run_cell, run_grids
from sclib.experiments.search import search_grid, select_setting
from sclib.paths import ROOT
from sclib.tasks import get_task

QUICK = PROFILES[("language", "quick")]
TINY = replace(
    tiny_profile(QUICK), n_train=16, n_subroutine=16, n_val=8, n_test=8, lambdas=(1e-6, 1e-5)
)
CELL = Cell("sv_agreement", "minilm", "subject", "pretrained", "singular")


def same_row(a: dict, b: dict) -> bool:
    """Rows equal, NaN equal to NaN (an ablation that could not run)."""
    return a.keys() == b.keys() and pd.Series(a).equals(pd.Series(b))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return Cache(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def row(cache):
    return run_cell(CELL, TINY, cache, progress=False)


def test_row_has_the_paper_columns_and_provenance(row):
    paper = pd.read_csv(ROOT / "data/reference/paper_results_runs.csv", nrows=1).columns
    shared = {
        "domain", "task", "variant", "architecture", "subroutine", "other_subroutine",
        "sub_acc_target", "sub_acc_other", "zero_abl_acc_target", "zero_abl_acc_other",
        "rand_abl_acc_target", "rand_abl_acc_other", "subnetwork_score", "ablation_score",
        "random_ablation_score", "sub_acc_mask_task", "sub_l0", "l0_max", "sub_l0_fraction",
        "masked_stages", "mask_lr", "mask_l0_init", "base_comp_test_acc", "excluded",
    }  # fmt: skip
    assert shared <= set(paper) and shared <= set(row)
    for col in ("profile", "wall_time_s", "device", "torch_version", "git_rev"):
        assert row[col] not in (None, "")
    # the ladder: 1e-5 first; 1e-6 only where 1e-5's subnetwork missed the threshold
    assert row["n_grid_points"] in (1, 2) and row["l0_lambda"] in (1e-6, 1e-5)
    assert row["n_grid_points"] == 2 or row["l0_lambda"] == 1e-5


def test_scores_follow_from_the_accuracies(row):
    floor = lambda a: max(a, 0.25)  # noqa: E731
    assert row["subnetwork_score"] == pytest.approx(
        floor(row["sub_acc_target"]) - floor(row["sub_acc_other"])
    )
    assert row["ablation_score"] == pytest.approx(
        floor(row["zero_abl_acc_target"]) - floor(row["zero_abl_acc_other"])
    )
    assert 0 <= row["sub_l0_fraction"] <= 1 and -0.75 <= row["ablation_score"] <= 0.75


def test_rerun_reads_the_cache(cache, row):
    before = cache.misses
    again = run_cell(CELL, TINY, cache, progress=False)
    assert same_row(again, row) and cache.misses == before


def test_untrained_regime_skips_base_training(cache):
    cell = replace(CELL, regime="untrained")
    untrained = run_cell(cell, TINY, cache, progress=False)
    _, info = base_model(cell, TINY, cache, progress=False)
    _, trained = base_model(CELL, TINY, cache, progress=False)
    assert info["history"] == {} and trained["history"] != {}  # no training history
    assert not untrained["excluded"]  # the control is never excluded (reported as it is)
    assert untrained["control_of"] == "scratch" and isinstance(untrained["mask_passed"], bool)


@pytest.mark.parametrize(
    "cell, match",
    [
        (replace(CELL, architecture="gpt2"), "unknown architecture 'gpt2'; choose one of"),
        (replace(CELL, architecture="resnet"), "is vision, but profile"),
        (replace(CELL, regime="finetuned"), "unknown regime 'finetuned'; choose one of"),
        (replace(CELL, architecture="vit"), "is vision, but profile"),
        (replace(CELL, subroutine="noun"), "unknown subroutine 'noun'"),
        (replace(CELL, task="inside"), "unknown task 'inside'"),
    ],
)
def test_bad_cells_fail_before_any_training(cell, match, tmp_path):
    cache = Cache(tmp_path)
    with pytest.raises(ValueError, match=match):
        list(iter_grid([CELL, cell], TINY, cache, progress=False))
    assert cache.misses == 0


def test_profiles_and_default_grids():
    with pytest.raises(ValueError, match="choose one of: vision/quick"):
        get_profile("vision", "huge")
    full = cells(PROFILES[("language", "full")])
    assert {c.regime for c in full} == {"scratch", "pretrained", "untrained"}
    assert any(c.regime == "pretrained" and c.architecture == "bert_small" for c in full)
    no_mlm = cells(replace(PROFILES[("language", "full")], mlm=None))
    assert not any(c.regime == "pretrained" and c.architecture == "bert_small" for c in no_mlm)
    with pytest.raises(ValueError, match="unknown grid axes"):
        cells(QUICK, seeds=[0])


def test_search_walks_each_lambda_ladder_down_until_a_subnetwork_passes():
    profile = replace(QUICK, inits=(0.1, 0.0), lambdas=(1e-7, 1e-5, 1e-6), selection_threshold=0.9)
    accuracy = {(0.1, 1e-5): 0.5, (0.1, 1e-6): 0.95, (0.0, 1e-5): 0.2, (0.0, 1e-6): 0.3}
    accuracy[(0.0, 1e-7)] = 0.4

    def train(s):
        return {
            "val_mask_task_acc": accuracy[(s.init, s.l0_lambda)],
            "kept_fraction_of_model": s.l0_lambda,
        }

    trained = search_grid(profile, train)
    assert [(s.init, s.l0_lambda) for s, _ in trained] == [
        (0.1, 1e-5), (0.1, 1e-6), (0.0, 1e-5), (0.0, 1e-6), (0.0, 1e-7)
    ]  # fmt: skip
    (setting, _), passed = select_setting(trained, 0.9)
    assert setting == MaskSetting(0.1, 1e-2, "from_layer_2", 1e-6) and passed
    # nothing passes anywhere: every rung is trained; the most accurate is scored, not passed
    dull = search_grid(profile, lambda s: {"val_mask_task_acc": 0.25 + s.l0_lambda})
    assert len(dull) == len(profile.grid()) == 6
    (setting, _), passed = select_setting(dull, 0.9)
    assert setting.l0_lambda == 1e-5 and not passed


@pytest.mark.parametrize("passing, chosen", [(True, 2), (False, 1)])
def test_selection_never_uses_ablation(passing, chosen):
    """Whichever candidate the ablation results favour, the same setting is selected."""
    settings = [MaskSetting(0.1, 1e-2, "all", lam) for lam in (1e-7, 1e-6, 1e-5)]
    accs = (0.95, 0.97, 0.93) if passing else (0.5, 0.8, 0.6)
    kept = (0.3, 0.2, 0.1)
    search = [
        {"val_mask_task_acc": a, "kept_fraction": k, "kept_fraction_of_model": k / 2}
        for a, k in zip(accs, kept, strict=True)
    ]
    ablations = [
        {"ablation_score": s, "zero_abl_acc_target": 0.25 - s, "sub_acc_target": 1.0}
        for s in (-0.7, 0.0, 0.5)
    ]
    for order in itertools.permutations(ablations):
        candidates = [
            (s, {**info, **abl}) for s, info, abl in zip(settings, search, order, strict=True)
        ]
        assert select_setting(candidates, 0.9)[0][0] == settings[chosen]


def test_mask_search_sees_no_ablation_results(cache, row):
    """What the search trains and selects on: a mask's validation accuracy and size only."""
    entries = (cache.root / "masks").iterdir()
    infos = [torch.load(e / "payload.pt", weights_only=False)["info"] for e in entries]
    assert infos and all(
        set(info)
        == {"val_mask_task_acc", "kept_fraction", "train_time_s", "stopped_early", "history"}
        for info in infos
    )


def test_cached_runs_and_load_cell(cache, row):
    table = cached_runs(cache)
    assert row["base_model_id"] in set(table["base_model_id"])
    model, masks, again = load_cell(CELL, TINY, cache)
    assert same_row(again, row) and not model.training
    assert sum(int(k.sum()) for k in masks.kept().values()) == row["sub_l0"]


@pytest.mark.slow
@pytest.mark.parametrize("domain, arch, task, sub", [
    ("vision", "resnet", "inside_contact", "inside"),
    ("language", "bert_small", "anaphora", "pronoun"),
])  # fmt: skip
def test_self_pretrained_regime_pretrains_once_then_fine_tunes(tmp_path, domain, arch, task, sub):
    from sclib.pretrain.mlm import MLMConfig
    from sclib.pretrain.simclr import SimCLRConfig

    profile = replace(
        tiny_profile(PROFILES[(domain, "quick")]),
        simclr=SimCLRConfig(epochs=1, batch_size=16, max_steps=2, progress=False),
        simclr_tasks=("inside_contact",),
        simclr_problems_per_task=8,
        mlm=MLMConfig(epochs=1, batch_size=16, max_steps=2, progress=False),
        mlm_sentences=32,
    )
    cache = Cache(tmp_path)
    cell = Cell(task, arch, sub, "pretrained", "none" if domain == "vision" else "singular")
    row = run_cell(cell, profile, cache, progress=False)
    assert row["pretraining"] == ("simclr" if domain == "vision" else "mlm")
    assert len(list((tmp_path / "pretraining").iterdir())) == 1
    other = replace(cell, subroutine=get_task(task).other(sub))
    run_cell(other, profile, cache, progress=False)  # same base model: no new pretraining
    assert len(list((tmp_path / "pretraining").iterdir())) == 1
    scratch = run_cell(replace(cell, regime="scratch"), profile, cache, progress=False)
    assert scratch["base_model_id"] != row["base_model_id"]


def test_pretrained_regime_needs_the_profile_to_say_how(tmp_path):
    cell = Cell("sv_agreement", "bert_small", "verb", "pretrained", "singular")
    with pytest.raises(ValueError, match="has no mlm config"):
        run_cell(cell, replace(TINY, mlm=None), Cache(tmp_path), progress=False)


def test_one_progress_line_per_run(cache, row, capsys):
    list(iter_grid([CELL], TINY, cache, progress=True))
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "run 1/1" in out[0] and out[0].endswith("cached")


@pytest.mark.parametrize("image_size", [32, 40])
def test_vit_gets_the_profiles_image_size(image_size):
    profile = replace(tiny_profile(PROFILES[("vision", "quick")]), image_size=image_size)
    cell = Cell("inside_contact", "vit", "contact", "untrained")
    model, info = base_model(cell, profile, Cache(None), progress=False)
    assert model.embedder.backbone.vit.config.image_size == image_size
    assert 0 <= info["comp_test_acc"] <= 1  # and it ran on the profile's images


def test_notebook_profiles_and_grids(cache, row):
    profiles = notebook_profiles("quick", ["language"], tiny=True)
    assert profiles == {"language": tiny_profile(QUICK)}
    assert notebook_profiles("quick", ["vision"]) == {"vision": PROFILES[("vision", "quick")]}
    with pytest.raises(ValueError, match="unknown profile language/huge"):
        notebook_profiles("huge", ["language"])
    tables = run_grids({"language": TINY}, {"language": [CELL]}, cache, progress=False)
    assert list(tables) == ["language"] and same_row(tables["language"].iloc[0].to_dict(), row)


def test_notebook_04_mask_tables_and_probe(cache, row):
    both = [CELL, replace(CELL, subroutine="verb")]
    overlap, kept = mask_tables({"language": TINY}, {"language": both}, cache)
    assert set(overlap["comparison"]) == {"subroutines"}
    assert (overlap[["subroutine_a", "subroutine_b"]].iloc[0] == ["subject", "verb"]).all()
    assert set(kept["subroutine"]) == {"subject", "verb"} and (kept["domain"] == "language").all()
    probe = probe_table({"language": TINY}, {"language": both}, cache)
    assert len(probe) == 2 * len(CONDITIONS) and set(probe["domain"]) == {"language"}
    table = signal_by_condition(probe, "relative_signal")
    assert list(table.columns) == list(CONDITIONS) and len(table) == 2
