"""Mask search: train masks over a profile's grid, select one without looking at ablations.

The paper's rule picks hyperparameters on the very ablation scores it then tests; ours is
blind to ablations by construction. For each (init, lr, region) of the grid, the lambdas
are a fixed geometric ladder (``sclib.experiments.profiles.lambda_ladder``) from one that
empties every mask downwards: a smaller lambda is trained only if no larger one gave a
subnetwork that reaches ``selection_threshold`` on the *validation* mask-task set
(``search_grid``), and a rung ends as soon as its mask has emptied (``stopped_early``), so
failing rungs cost little; where the profile sets ``stall_min_drop`` (quick), a rung whose
training loss has not moved by half-time stops there and fails (``stalled``). Among the trained points, the sparsest that passes wins, its
size measured against all maskable weights of the model (``select_setting``); when none
passes, the most accurate is scored and marked ``mask_passed`` False. The untrained
control is not searched: it takes its trained twin's setting (``sclib.experiments.runner``).
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
from sclib.stopwatch import stage
from sclib.train import MaskTrainConfig, evaluate, train_mask

Candidate = tuple[MaskSetting, dict[str, Any]]  # a trained grid point and its info


def mask_include(architecture: str, region: str, profile: Profile) -> Any:
    """What ``add_masks`` masks for a grid point's ``region`` (raises for an unknown one)."""
    return mask_region(architecture, region, **region_kwargs(profile))


def mask_train_config(
    cell: Cell, profile: Profile, setting: MaskSetting, progress: bool = False
) -> MaskTrainConfig:
    """The profile's mask training at a grid point; a rung whose mask empties stops early,
    and one that stalls too where the profile says so (``Profile.stall_min_drop``)."""
    return replace(
        profile.mask,
        lr=setting.lr,
        l0_lambda=setting.l0_lambda,
        seed=cell.mask_seed,
        progress=progress,
        stop_when_empty=True,
        stall_min_drop=profile.stall_min_drop,
    )


def passes(info: dict[str, Any], threshold: float) -> bool:
    """Whether a trained mask passes: it reaches ``threshold`` on its validation mask-task
    set and was not stopped for making no progress (a ``stalled`` rung fails)."""
    return info["val_mask_task_acc"] >= threshold and not info.get("stalled", False)


def mask_config(cell: Cell, profile: Profile, setting: MaskSetting) -> dict[str, Any]:
    """Everything that determines a trained mask (its cache key)."""
    return {
        "base": base_config(cell, profile),
        "subroutine": cell.subroutine,
        "mask_seed": cell.mask_seed,
        "setting": setting,
        "n_subroutine": profile.n_subroutine,
        "train": mask_train_config(cell, profile, setting),
    }


def maskable_weights(model) -> int:
    """How many weights ``add_masks`` can mask in ``model`` (every region together; the
    nonzero ones only, in a weight-sparse model): the denominator that makes kept
    fractions of different regions comparable."""
    probe = add_masks(copy.deepcopy(model))
    return probe.size()


def _train(
    cell: Cell, profile: Profile, setting: MaskSetting, model, masks: MaskSet, progress: bool
) -> dict[str, Any]:
    """Train ``masks`` on the cell's subroutine set: the mask logits and info."""
    task = task_for(cell, profile)
    cfg = mask_train_config(cell, profile, setting, progress)
    start = time.perf_counter()
    with stage("mask_rung_failing") as rung:
        history = train_mask(
            model,
            masks,
            task.dataset(f"subroutine:{cell.subroutine}", "train", profile.n_subroutine),
            cfg,
        )
        with stage("mask_validation"):
            val_set = task.dataset(f"subroutine:{cell.subroutine}", "val", profile.n_val)
            val_acc = evaluate(model, val_set)
        info = {
            "val_mask_task_acc": val_acc,
            "kept_fraction": masks.kept_fraction(),
            "train_time_s": time.perf_counter() - start,
            "stopped_early": bool(history["stopped_early"]),
            "history": history,
        }
        if history.get("stalled"):
            info["stalled"] = True
        if passes(info, profile.selection_threshold):
            rung.name = "mask_rung_passing"
    return {"logits": masks.state_dict(), "info": info}


def trained_mask(
    cell: Cell, profile: Profile, setting: MaskSetting, base, cache: Cache, progress: bool = True
):
    """A copy of ``base`` with a trained mask for the cell's subroutine: ``(model, masks, info)``.

    ``info``: ``val_mask_task_acc``, ``kept_fraction`` (of the masked region),
    ``kept_weights``, ``stopped_early``, ``train_time_s`` and the training ``history``.
    """
    model = copy.deepcopy(base)
    include = mask_include(cell.architecture, setting.region, profile)
    masks = add_masks(model, include=include, init=setting.init)
    config = mask_config(cell, profile, setting)
    payload = cache.get_or_compute(
        "masks", config, lambda: _train(cell, profile, setting, model, masks, progress)
    )
    masks.load_state_dict(payload["logits"])
    kept = sum(int(k.sum()) for k in masks.kept().values())
    return model, masks, {**payload["info"], "kept_weights": kept}


def ladders(profile: Profile) -> list[list[MaskSetting]]:
    """The grid as lambda ladders: one per (init, lr, region), largest lambda first."""
    return [
        [MaskSetting(init, lr, region, lam) for lam in sorted(profile.lambdas, reverse=True)]
        for init in profile.inits
        for lr in profile.lrs
        for region in profile.regions
    ]


def search_grid(
    profile: Profile, train: Callable[[MaskSetting], dict[str, Any]]
) -> list[Candidate]:
    """Train masks down each lambda ladder; return the ``(setting, info)`` of those trained.

    For each (init, lr, region), lambdas from largest to smallest, stopping after the
    first that ``passes`` (``info["val_mask_task_acc"]`` reaches ``profile.selection_threshold``).

    >>> from sclib.experiments.profile_settings import PROFILES
    >>> p = replace(PROFILES[("vision", "quick")], lambdas=(1e-6, 1e-4, 1e-5))
    >>> acc = {1e-4: 0.5, 1e-5: 0.95, 1e-6: 1.0}
    >>> [s.l0_lambda for s, _ in search_grid(p, lambda s: {"val_mask_task_acc": acc[s.l0_lambda]})]
    [0.0001, 1e-05]
    """
    trained = []
    for ladder in ladders(profile):
        for setting in ladder:
            info = train(setting)
            trained.append((setting, info))
            if passes(info, profile.selection_threshold):
                break
    return trained


def select_setting(candidates: list[Candidate], threshold: float) -> tuple[Candidate, bool]:
    """The sparsest candidate whose validation mask-task accuracy reaches ``threshold``, and
    True; when none does, the most accurate one and False (its run is scored, and marked
    ``mask_passed`` False). Never looks at ablation results.

    "Sparsest" is the smallest ``kept_fraction_of_model``: the kept weights as a fraction of
    ALL maskable weights of the model (``maskable_weights``), one denominator for every
    region; a region's own ``kept_fraction`` would rank a mask of stage 4 alone against one
    of the whole network on different scales.

    >>> a, b = MaskSetting(0.1, 1e-2, "stage4", 1e-6), MaskSetting(0.1, 1e-2, "all", 1e-5)
    >>> (choice, _), passed = select_setting(
    ...     [(a, {"val_mask_task_acc": .95, "kept_fraction": .2, "kept_fraction_of_model": .02}),
    ...      (b, {"val_mask_task_acc": .92, "kept_fraction": .05, "kept_fraction_of_model": .05})],
    ...     .9)
    >>> choice == a, passed
    (True, True)
    """
    passing = [c for c in candidates if passes(c[1], threshold)]
    if passing:
        return min(passing, key=lambda c: c[1]["kept_fraction_of_model"]), True
    return max(candidates, key=lambda c: c[1]["val_mask_task_acc"]), False


def _with_model_fraction(info: dict[str, Any], n_maskable: int) -> dict[str, Any]:
    return {**info, "kept_fraction_of_model": info["kept_weights"] / n_maskable}


def searched_mask(cell: Cell, profile: Profile, base, cache: Cache, progress: bool = True):
    """Search the profile's grid for the cell and load the selected mask.

    Returns ``(model, masks, setting, info, n_trained)``: a copy of ``base`` with the
    selected mask, its grid point, its training info (with ``kept_fraction_of_model`` and
    ``mask_passed``, see ``select_setting``) and how many masks the search trained.
    """
    n_maskable = maskable_weights(base)  # once per base model

    def train(setting: MaskSetting) -> dict[str, Any]:
        info = trained_mask(cell, profile, setting, base, cache, progress=progress)[2]
        return _with_model_fraction(info, n_maskable)

    candidates = search_grid(profile, train)
    (setting, info), passed = select_setting(candidates, profile.selection_threshold)
    model, masks, _ = trained_mask(cell, profile, setting, base, cache, progress=False)
    return model, masks, setting, {**info, "mask_passed": passed}, len(candidates)


def mask_at(
    cell: Cell, profile: Profile, setting: MaskSetting, base, cache: Cache, progress: bool = True
):
    """The cell's mask trained at one given grid point (no search), as ``searched_mask``
    returns it: ``mask_passed`` says whether it reaches the profile's selection threshold."""
    model, masks, info = trained_mask(cell, profile, setting, base, cache, progress=progress)
    info = _with_model_fraction(info, maskable_weights(base))
    passed = passes(info, profile.selection_threshold)
    return model, masks, setting, {**info, "mask_passed": bool(passed)}, 1
