"""sclib.experiments.describe: profiles and cells in words, and the cells kept for masks."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
from fake_runs import run_identity

from sclib.experiments.describe import describe_profile, describe_regimes, included_cells
from sclib.experiments.profile_settings import get_profile
from sclib.experiments.profiles import Cell, cells
from sclib.stats.vocabulary import REGIMES


def test_describe_profile_names_sizes_and_every_cell():
    profile = get_profile("vision", "quick")
    pair = [Cell("inside_contact", "resnet", "inside"), Cell("inside_contact", "resnet", "contact")]
    text = describe_profile(profile, pair)
    assert text.startswith(f"vision/quick: {profile.n_train} training problems")
    assert f"{profile.image_size} px images" in text
    assert "2 cells:" in text
    assert "inside_contact/contact · resnet · scratch · none · base seed 0 · mask seed 0" in text
    assert "cells:" not in describe_profile(profile)


def test_describe_regimes_names_skipped_pretraining():
    profile = replace(get_profile("vision", "quick"), simclr=None)
    text = describe_regimes(profile, cells(profile, regimes=REGIMES))
    assert "ResNet (small): scratch, untrained" in text
    assert "pretrained = SimCLR (skipped: profile has no simclr config)" in text


def test_describe_regimes_names_published_weights():
    profile = get_profile("language", "quick")
    two = [
        Cell("sv_agreement", "minilm", "subject", r, "singular") for r in ("scratch", "pretrained")
    ]
    text = describe_regimes(profile, two)
    assert "MiniLM: scratch, pretrained; pretrained = MiniLM's published weights; 2 cells" in text


def test_included_cells_drop_excluded_base_models():
    rows = pd.DataFrame(
        [run_identity(base_seed=seed) | {"excluded": str(seed == 5)} for seed in (0, 5, 1)]
    )
    kept = included_cells(rows)
    assert kept == [
        Cell("inside_contact", "resnet", "inside", "scratch", "none", 0, 0),
        Cell("inside_contact", "resnet", "inside", "scratch", "none", 1, 0),
    ]
    assert type(kept[0].base_seed) is int  # Python ints: the cells hash as the cache's keys
    assert len(included_cells(rows.drop(columns="excluded"))) == 3
