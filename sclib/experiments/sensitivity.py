"""A cell along its whole lambda ladder: what every rung's mask would have given.

The search (``sclib.experiments.search``) stops at the first rung that passes on validation
and never looks at ablations; ``lambda_sensitivity`` shows the other rungs too, each
mask's ablation score beside the size-matched random control, and ``sensitivity_table``
does so for one cell per domain (notebook 04, ``sclib.plots.sensitivity``). Each rung's
row is a cache entry of its own (kind ``"rungs"``): the pool jobs that train the ladder's
masks ahead of the notebook evaluate them there too (``sclib.experiments.ladder``), so
the notebook only reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from sclib.experiments.base_models import base_model
from sclib.experiments.cache import Cache
from sclib.experiments.profile_settings import get_profile
from sclib.experiments.profiles import Cell, MaskSetting, Profile, run_config
from sclib.experiments.runner import ablated_accuracies, check_cell, score_columns
from sclib.experiments.search import ladders, mask_at
from sclib.models import ARCHITECTURES
from sclib.stats.vocabulary import TRAINED_REGIMES

MODES = ("zero", "randomly_sampled")  # the ablations drawn at every rung


def rung_key(cell: Cell, profile: Profile, setting: MaskSetting) -> dict[str, Any]:
    """The cache key of one rung's row: the cell's run key and the rung's grid point."""
    return {**run_config(cell, profile), "setting": setting}


def rung_row(
    cell: Cell,
    profile: Profile,
    setting: MaskSetting,
    base: Any,
    cache: Cache,
    progress: bool = False,
) -> dict[str, Any]:
    """One rung of the ladder: its mask (trained or read from the cache), how it did on
    validation, and its zero and size-matched random ablation scores (cached)."""

    def compute() -> dict[str, Any]:
        model, masks, _, info, _ = mask_at(cell, profile, setting, base, cache, progress)
        return {
            "mask_l0_init": setting.init,
            "mask_lr": setting.lr,
            "masked_stages": setting.region,
            "l0_lambda": setting.l0_lambda,
            "kept_fraction": masks.kept_fraction(),
            "kept_fraction_of_model": info["kept_fraction_of_model"],
            "val_mask_task_acc": info["val_mask_task_acc"],
            "mask_passed": info["mask_passed"],
            "stopped_early": bool(info.get("stopped_early", False)),
            **score_columns(ablated_accuracies(cell, profile, model, masks, MODES), MODES),
        }

    return cache.get_or_compute("rungs", rung_key(cell, profile, setting), compute)


def settings(profile: Profile) -> list[MaskSetting]:
    """Every grid point of the profile's lambda ladders, largest lambda first."""
    return [s for ladder in ladders(profile) for s in ladder]


def lambda_sensitivity(
    cell: Cell, profile: str | Profile = "quick", cache: Cache | None = None, progress: bool = False
) -> pd.DataFrame:
    """The cell's masks at every rung of the profile's lambda ladder (trained or read from the
    cache), with their ablation scores beside the size-matched random control.

    The search stops at the first rung that passes and never looks at ablations; this table
    shows what the other rungs would have given. One row per grid point, largest lambda
    first: ``mask_l0_init``, ``mask_lr``, ``masked_stages``, ``l0_lambda``,
    ``kept_fraction`` (of the region), ``kept_fraction_of_model``, ``val_mask_task_acc``,
    ``mask_passed``, ``stopped_early``, ``ablation_score`` (zero ablation) and
    ``sampled_ablation_score`` (as many weights zeroed at random per layer).
    """
    profile = get_profile(ARCHITECTURES.get(cell.architecture, "vision"), profile)
    check_cell(cell, profile)
    cache = cache if cache is not None else Cache()
    base, _ = base_model(cell, profile, cache, progress=progress)
    rows = [rung_row(cell, profile, s, base, cache, progress) for s in settings(profile)]
    return pd.DataFrame(rows)


def sensitivity_table(
    profiles: Mapping[str, Profile],
    rows: Mapping[str, pd.DataFrame],
    domains: Iterable[str],
    cache: Cache | None = None,
) -> pd.DataFrame:
    """``lambda_sensitivity`` of one cell per domain in ``domains``, with the cell's names.

    The cell is the first trained run (scratch or pretrained) of that domain's ``rows``
    whose base model is not excluded for its accuracy: a choice by position, blind to every
    score. Notebook 04 draws it (``sclib.plots.sensitivity``).
    """
    tables = []
    for domain in domains:
        if domain not in profiles:
            raise ValueError(f"no profile for domain {domain!r}; have: {', '.join(profiles)}")
        runs = rows[domain]
        trained = runs[runs["regime"].isin(TRAINED_REGIMES)]
        accurate = trained[trained["base_comp_test_acc"] >= profiles[domain].exclusion_threshold]
        if accurate.empty:
            continue
        fields = [f.name for f in dataclasses.fields(Cell)]
        cell = Cell(**accurate[fields].head(1).to_dict("records")[0])  # Python ints
        table = lambda_sensitivity(cell, profiles[domain], cache)
        names = {"domain": domain, **dataclasses.asdict(cell)}
        tables.append(table.assign(**names))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
