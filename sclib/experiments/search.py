"""Mask search: train masks over a profile's grid, select one without looking at ablations.

The paper's rule picks hyperparameters on the very ablation scores it then tests; ours
does not look at ablations. For each (init, lr, region) of the grid, the lambdas are a
ladder walked from the strongest sparsity pressure down: a smaller lambda is trained only
if no larger one gave a subnetwork that reaches ``selection_threshold`` on the
*validation* mask-task set (``search_grid``). Among the trained points, keep the sparsest
that reaches the threshold; if none does, the most accurate (``select_setting``). So a
trained model, whose subnetwork is found at the top rung, costs one mask, and the
untrained control, whose masks empty out under a penalty its weak gradients cannot
resist, goes down the ladder until a subnetwork appears.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sclib.experiments.base_models import base_config, region_kwargs, task_for
from sclib.experiments.cache import Cache
from sclib.experiments.profiles import Cell, MaskSetting, Profile
from sclib.masks import MaskSet, add_masks
from sclib.models import mask_region
from sclib.train import evaluate, train_mask

Candidate = tuple[MaskSetting, dict[str, Any]]  # a trained grid point and its info


def mask_include(architecture: str, region: str, profile: Profile) -> Any:
    """What ``add_masks`` masks for a grid point's ``region`` (raises for an unknown one)."""
    return mask_region(architecture, region, **region_kwargs(profile))


def mask_config(cell: Cell, profile: Profile, setting: MaskSetting) -> dict[str, Any]:
    """Everything that determines a trained mask (its cache key)."""
    return {
        "base": base_config(cell, profile),
        "subroutine": cell.subroutine,
        "mask_seed": cell.mask_seed,
        "setting": setting,
        "n_subroutine": profile.n_subroutine,
        "train": replace(
            profile.mask,
            lr=setting.lr,
            l0_lambda=setting.l0_lambda,
            seed=cell.mask_seed,
            progress=False,
        ),
    }


def _train(
    cell: Cell, profile: Profile, setting: MaskSetting, model, masks: MaskSet, progress: bool
) -> dict[str, Any]:
    """Train ``masks`` on the cell's subroutine set: the mask logits and info."""
    task = task_for(cell, profile)
    cfg = replace(
        profile.mask,
        lr=setting.lr,
        l0_lambda=setting.l0_lambda,
        seed=cell.mask_seed,
        progress=progress,
    )
    start = time.perf_counter()
    history = train_mask(
        model,
        masks,
        task.dataset(f"subroutine:{cell.subroutine}", "train", profile.n_subroutine),
        cfg,
    )
    val_acc = evaluate(model, task.dataset(f"subroutine:{cell.subroutine}", "val", profile.n_val))
    return {
        "logits": masks.state_dict(),
        "info": {
            "val_mask_task_acc": val_acc,
            "kept_fraction": masks.kept_fraction(),
            "train_time_s": time.perf_counter() - start,
            "history": history,
        },
    }


def trained_mask(
    cell: Cell, profile: Profile, setting: MaskSetting, base, cache: Cache, progress: bool = True
):
    """A copy of ``base`` with a trained mask for the cell's subroutine: ``(model, masks, info)``."""
    model = copy.deepcopy(base)
    include = mask_include(cell.architecture, setting.region, profile)
    masks = add_masks(model, include=include, init=setting.init)
    config = mask_config(cell, profile, setting)
    payload = cache.get_or_compute(
        "masks", config, lambda: _train(cell, profile, setting, model, masks, progress)
    )
    masks.load_state_dict(payload["logits"])
    return model, masks, dict(payload["info"])


def search_grid(
    profile: Profile, train: Callable[[MaskSetting], dict[str, Any]]
) -> list[Candidate]:
    """Train masks down each lambda ladder; return the ``(setting, info)`` of those trained.

    For each (init, lr, region), lambdas from largest to smallest, stopping after the
    first whose ``info["val_mask_task_acc"]`` reaches ``profile.selection_threshold``.

    >>> from sclib.experiments.profiles import PROFILES
    >>> p = replace(PROFILES[("vision", "quick")], lambdas=(1e-6, 1e-4, 1e-5))
    >>> acc = {1e-4: 0.5, 1e-5: 0.95, 1e-6: 1.0}
    >>> [s.l0_lambda for s, _ in search_grid(p, lambda s: {"val_mask_task_acc": acc[s.l0_lambda]})]
    [0.0001, 1e-05]
    """
    trained = []
    for init in profile.inits:
        for lr in profile.lrs:
            for region in profile.regions:
                for lam in sorted(profile.lambdas, reverse=True):
                    setting = MaskSetting(init, lr, region, lam)
                    info = train(setting)
                    trained.append((setting, info))
                    if info["val_mask_task_acc"] >= profile.selection_threshold:
                        break
    return trained


def select_setting(candidates: list[Candidate], threshold: float) -> Candidate:
    """The sparsest setting whose validation mask-task accuracy reaches ``threshold``,
    else the most accurate one. Never looks at ablation results.

    >>> a, b = MaskSetting(0.1, 1e-2, "all", 1e-6), MaskSetting(0.1, 1e-2, "all", 1e-5)
    >>> select_setting([(a, {"val_mask_task_acc": .95, "kept_fraction": .2}),
    ...                 (b, {"val_mask_task_acc": .92, "kept_fraction": .05})], .9)[0] == b
    True
    """
    passing = [c for c in candidates if c[1]["val_mask_task_acc"] >= threshold]
    if passing:
        return min(passing, key=lambda c: c[1]["kept_fraction"])
    return max(candidates, key=lambda c: c[1]["val_mask_task_acc"])


def searched_mask(cell: Cell, profile: Profile, base, cache: Cache, progress: bool = True):
    """Search the profile's grid for the cell and load the selected mask.

    Returns ``(model, masks, setting, info, n_trained)``: a copy of ``base`` with the
    selected mask, its grid point, its training info and how many masks the search trained.
    """
    candidates = search_grid(
        profile, lambda s: trained_mask(cell, profile, s, base, cache, progress=progress)[2]
    )
    setting, info = select_setting(candidates, profile.selection_threshold)
    model, masks, _ = trained_mask(cell, profile, setting, base, cache, progress=False)
    return model, masks, setting, info, len(candidates)
