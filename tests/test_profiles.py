"""The ``paper`` profiles carry the paper's settings; profile names are checked everywhere.

The values come from the paper (arXiv 2301.10884) and the authors' configs (cited beside each in
``sclib/experiments/profiles.py``); what a profile cannot say is in docs/deviations.md.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from sclib import notebooks
from sclib.experiments.jobs import GRID_PROFILES, plan_jobs
from sclib.experiments.jobs_estimate import DEFAULT_SECONDS, Timings
from sclib.experiments.profile_settings import PROFILES, get_profile
from sclib.experiments.profiles import LEFT_OUT, cells
from sclib.tasks import get_task

DOMAINS = ("vision", "language")


@pytest.mark.parametrize("domain", DOMAINS)
def test_paper_profile_has_the_papers_mask_training(domain: str) -> None:
    p = get_profile(domain, "paper")
    assert (p.name, p.domain) == ("paper", domain)
    assert p.mask.epochs == 90
    assert p.mask.batch_size == 64
    assert p.mask.max_temperature == 200.0
    assert p.mask.anneal == "epoch"
    assert p.lambdas == (1e-8,)
    assert p.mask.l0_lambda == 1e-8
    assert p.inits == (0.1, 0.05, 0.0, -0.05)
    assert p.lrs == (1e-2, 1e-4)
    assert len(p.regions) == 3
    assert len(p.grid()) == 4 * 2 * 3
    assert p.base_seeds == (0, 1, 2)
    assert p.mask_seeds == (0, 1, 2)
    assert p.selection_threshold == 0.9
    assert p.base.epochs == 100
    assert p.base.weight_decay == 0.0
    assert p.base.schedule == "constant"
    assert p.regimes == ("scratch", "pretrained", "untrained")


def test_paper_vision_profile_has_the_papers_sizes() -> None:
    p = get_profile("vision", "paper")
    assert p.image_size == 128
    assert p.model_size == "full"
    assert (p.n_train, p.n_subroutine, p.n_val, p.n_test) == (10000, 10000, 500, 1000)
    assert p.regions == ("all", "stage3+", "stage4")
    assert set(p.architectures) == {"resnet", "wide_resnet"}
    assert set(p.tasks) == {"inside_contact", "inside_number", "number_contact"}
    assert not p.augment
    assert p.base.patience == 75
    assert p.simclr is not None
    assert (p.simclr.epochs, p.simclr.batch_size, p.simclr.lr) == (100, 128, 5e-4)
    assert p.simclr.temperature == 0.07
    assert p.simclr_problems_per_task == 10000


def test_paper_language_profile_has_the_papers_sizes() -> None:
    p = get_profile("language", "paper")
    assert p.architectures == ("bert_small",)
    assert set(p.tasks) == {"sv_agreement", "anaphora"}
    assert p.variants == ("singular", "plural")
    assert (p.n_train, p.n_subroutine, p.n_val, p.n_test) == (9500, 9500, 500, 300)
    assert p.regions == ("from_layer_0", "from_layer_2", "from_layer_3")
    assert p.base.patience == 30


@pytest.mark.parametrize("domain", DOMAINS)
def test_paper_profile_cells_cover_its_grid(domain: str) -> None:
    p = get_profile(domain, "paper")
    found = cells(p)
    subroutines = sum(len(get_task(t).subroutines) for t in p.tasks)
    seeds = len(p.base_seeds) * len(p.mask_seeds) * len(p.variants)
    pairs = len(p.architectures) * len(p.regimes) - len(LEFT_OUT.get((domain, "paper"), ()))
    assert len(found) == subroutines * pairs * seeds  # the paper's WideResNet: never pretrained
    assert {c.regime for c in found} == set(p.regimes)


def test_paper_profile_plans_jobs_with_an_estimate() -> None:
    assert "paper" in GRID_PROFILES
    jobs = plan_jobs("paper")
    assert {j.profile.domain for j in jobs} == set(DOMAINS)
    for domain in DOMAINS:
        assert DEFAULT_SECONDS[(domain, "paper")][0] == "gpu"
    timings = Timings.from_runs(pd.DataFrame())
    seconds, device = timings.estimate(next(j for j in jobs if j.kind == "base"))
    assert device == "gpu" and seconds > 0


@pytest.mark.parametrize("name", ["papr", "Paper", "standrd", ""])
def test_unknown_profile_names_the_valid_ones(name: str) -> None:
    with pytest.raises(ValueError, match="unknown profile") as err:
        get_profile("vision", name)
    assert f"vision/{name};" in str(err.value)
    for domain, valid in PROFILES:
        assert f"{domain}/{valid}" in str(err.value)


def test_notebook_profiles_are_the_package_profiles() -> None:
    assert set(notebooks.PROFILES) == {name for _, name in PROFILES}
    with pytest.raises(ValueError, match="quick, standard, full, paper"):
        notebooks.run("papr")


@pytest.mark.parametrize("name", ["standard", "paper"])
def test_the_pretrained_wideresnet_is_left_out_as_the_paper_did(name):
    from sclib.experiments.profiles import left_out

    profile = PROFILES[("vision", name)]
    grid = cells(profile)
    assert not [c for c in grid if (c.architecture, c.regime) == ("wide_resnet", "pretrained")]
    assert {c.regime for c in grid if c.architecture == "resnet"} == set(profile.regimes)
    assert {c.regime for c in grid if c.architecture == "wide_resnet"} == {"scratch", "untrained"}
    assert not cells(profile, architectures=["wide_resnet"], regimes=["pretrained"])
    assert left_out(profile, "wide_resnet", "pretrained")
    full = PROFILES[("vision", "full")]  # beyond the paper: the full profile pretrains it
    assert any(c.architecture == "wide_resnet" and c.regime == "pretrained" for c in cells(full))
    for (domain, name), profile in PROFILES.items():  # no other profile leaves anything out
        if (domain, name) not in LEFT_OUT:
            assert not any(left_out(profile, c.architecture, c.regime) for c in cells(profile))


def test_standard_runs_the_wideresnet_on_inside_contact_alone():
    """``TASKS_LEFT_OUT`` (issue #15's budget): standard vision keeps both architectures,
    the WideResNet on one task; the ResNet and every other profile keep every task."""
    from sclib.experiments.profiles import TASKS_LEFT_OUT, left_out

    standard = PROFILES[("vision", "standard")]
    grid = cells(standard)
    assert {c.task for c in grid if c.architecture == "wide_resnet"} == {"inside_contact"}
    assert {c.task for c in grid if c.architecture == "resnet"} == set(standard.tasks)
    assert not cells(standard, tasks=["number_contact"], architectures=["wide_resnet"])
    assert left_out(standard, "wide_resnet", "scratch", "inside_number")
    assert not left_out(standard, "wide_resnet", "scratch", "inside_contact")
    assert not left_out(standard, "wide_resnet", "scratch")  # no task: the pair alone
    for key, profile in PROFILES.items():
        if key not in TASKS_LEFT_OUT:
            assert {c.task for c in cells(profile)} == set(profile.tasks)
            by_arch = {(c.task, c.architecture) for c in cells(profile)}
            assert len(by_arch) == len(profile.tasks) * len(profile.architectures)


def test_a_pretrained_regimes_own_base_training_keys_only_its_own_runs():
    """``PRETRAINED_BASE`` (issue #15): the pretrained regime's base models and runs carry
    its recipe in their keys; the other regimes' keys stay as they were."""
    from sclib.experiments.base_models import base_config
    from sclib.experiments.profiles import PRETRAINED_BASE, base_training, run_config

    for (domain, name), recipe in PRETRAINED_BASE.items():
        profile = get_profile(domain, name)
        assert recipe != profile.base
        for regime in ("scratch", "pretrained", "untrained"):
            cell = cells(profile, regimes=(regime,))[0]
            expected = recipe if regime == "pretrained" else profile.base
            assert base_training(profile, regime) == expected
            assert base_config(cell, profile)["train"] == replace(
                expected, seed=cell.base_seed, progress=False
            )
            key = run_config(cell, profile)
            assert key == (
                {"cell": cell, "profile": profile, "base": recipe}
                if regime == "pretrained"
                else {"cell": cell, "profile": profile}
            )
    vision = get_profile("vision", "quick")  # no override: the profile's own base training
    assert base_training(vision, "pretrained") == vision.base


def test_a_tasks_scratch_base_training_keys_only_that_tasks_scratch_runs(monkeypatch):
    """``TASK_BASE`` (issue #15): a recipe for the scratch regime on one task enters the
    keys of that task's scratch base models and runs only; its untrained control, read
    through its twin, and the other task keep theirs."""
    from sclib.experiments import profiles
    from sclib.experiments.base_models import base_config
    from sclib.experiments.profiles import base_training, run_config

    profile = get_profile("language", "standard")
    recipe = replace(profile.base, epochs=profile.base.epochs + 6)
    monkeypatch.setitem(profiles.TASK_BASE, ("language", "standard", "scratch", "anaphora"), recipe)
    for cell in cells(profile, regimes=("scratch", "untrained")):
        own = cell.task == "anaphora" and cell.regime == "scratch"
        expected = recipe if own else profile.base
        assert base_training(profile, cell.regime, cell.task) == expected
        assert base_config(cell, profile)["train"].epochs == expected.epochs
        assert ("base" in run_config(cell, profile)) == own
    assert base_training(profile, "scratch") == profile.base  # no task: the profile's own


def test_standard_number_contact_trains_its_base_models_twice_as_long():
    """``TASK_BASE``'s one entry (issue #15): Number-Contact's scratch and pretrained base
    models on the standard vision profile train the profile's recipe for 16 epochs, not 8;
    every other task and the untrained controls keep the profile's own."""
    from sclib.experiments.profiles import TASK_BASE, base_training, run_config

    profile = get_profile("vision", "standard")
    for (domain, name, _regime, _task), recipe in TASK_BASE.items():
        assert (domain, name) == ("vision", "standard")
        assert recipe == replace(profile.base, epochs=2 * profile.base.epochs)
    seen = set()
    for cell in cells(profile):
        own = cell.task == "number_contact" and cell.regime in ("scratch", "pretrained")
        train = base_training(profile, cell.regime, cell.task)
        assert train.epochs == (16 if own else 8), cell
        assert ("base" in run_config(cell, profile)) == own
        seen.add(own)
    assert seen == {True, False}


def test_extra_mask_seeds_reach_only_their_own_cells():
    """``EXTRA_MASK_SEEDS`` (issue #15, the paper's 3-seed IoU): the cells named get mask seeds
    0-2 at every base seed, spares included; every other cell keeps the profile's one mask
    seed, and an explicit ``mask_seeds`` override wins."""
    from sclib.experiments.profiles import EXTRA_MASK_SEEDS

    for (domain, name), named in EXTRA_MASK_SEEDS.items():
        profile = get_profile(domain, name)
        grid = cells(profile, base_seeds=(*profile.base_seeds, 3))
        for cell in grid:
            seeds = named.get((cell.task, cell.architecture, cell.regime), profile.mask_seeds)
            same = [
                c.mask_seed for c in grid if replace(c, mask_seed=0) == replace(cell, mask_seed=0)
            ]
            assert tuple(same) == tuple(seeds), cell
        assert any(len(seeds) == 3 for seeds in named.values())
        assert {c.mask_seed for c in cells(profile, mask_seeds=(0,))} == {0}
    assert {c.mask_seed for c in cells(get_profile("vision", "quick"))} == {0}
