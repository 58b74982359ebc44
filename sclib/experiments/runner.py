"""Experiments: one cell -> base model -> mask -> evaluations -> one tidy row.

What is measured (a ``Cell``) and how big (a ``Profile``, ``quick`` or ``full``) are
defined in ``sclib.experiments.profiles``; the names are importable from here as well.

``run_cell`` trains (or loads) the base model, searches the profile's mask grid on the
subroutine set (below), selects one mask on the validation split, and evaluates the
subnetwork, the zero-ablated model and three random ablations on both "+/-" test sets.
Everything expensive is cached on disk under its full configuration (``sclib.experiments.cache``), so
a rerun or an interrupted run repeats no finished work.

Mask search and selection (the paper's rule picks hyperparameters on the very ablation
scores it then tests; ours does not look at ablations). For each (init, lr, region) of
the grid, the lambdas are a ladder walked from the strongest sparsity pressure down: a
smaller lambda is trained only if no larger one gave a subnetwork that reaches
``selection_threshold`` on the *validation* mask-task set. Among the trained points,
keep the sparsest that reaches the threshold; if none does, the most accurate. So a
trained model, whose subnetwork is found at the top rung, costs one mask, and the
untrained control, whose masks empty out under a penalty its weak gradients cannot
resist, goes down the ladder until a subnetwork appears (``search_grid``).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

import pandas as pd

from sclib.experiments.cache import Cache, config_key
from sclib.experiments.profiles import (
    PRETRAINING,
    PROFILES,
    REGIMES,
    Cell,
    MaskSetting,
    Profile,
    cells,
    get_profile,
    tiny_profile,
)
from sclib.masks import ABLATION_MODES, ablated, add_masks
from sclib.models import ARCHITECTURES, build_model, mask_region
from sclib.paths import ROOT  # noqa: F401  (notebooks 02-04 read it from here until #11's cleanup)
from sclib.pretrain.mlm import mlm_corpus, pretrain_mlm
from sclib.pretrain.simclr import pretrain_simclr, task_images
from sclib.provenance import provenance
from sclib.stats.scores import ablation_score, subnetwork_score
from sclib.tasks import get_task
from sclib.train import evaluate, train_base, train_mask

__all__ = [  # the profiles' names too, so notebooks need one import
    "PRETRAINING", "PROFILES", "REGIMES", "Cell", "MaskSetting", "Profile", "cells",
    "get_profile", "tiny_profile", "check_cell", "task_for", "base_model", "trained_mask",
    "search_grid", "select_setting", "run_cell", "iter_grid", "run_grid",
]  # fmt: skip

# ablation mode -> the column prefix the paper's results use (rand_ = random re-init)
ABLATION_COLUMNS = {
    "zero": "zero_abl",
    "random_reinit": "rand_abl",
    "randomly_sampled": "sampled_abl",
    "complement_sampled": "complement_abl",
}
SCORE_COLUMNS = {
    "zero": "ablation_score",
    "random_reinit": "random_ablation_score",
    "randomly_sampled": "sampled_ablation_score",
    "complement_sampled": "complement_ablation_score",
}


def _quiet(cfg: Any) -> Any:
    return replace(cfg, progress=False)


def check_cell(cell: Cell, profile: Profile) -> None:
    """Raise ValueError for a cell that cannot run, before anything is computed."""
    if cell.architecture not in ARCHITECTURES:
        raise ValueError(
            f"unknown architecture {cell.architecture!r}; choose one of: {', '.join(ARCHITECTURES)}"
        )
    if ARCHITECTURES[cell.architecture] != profile.domain:
        raise ValueError(
            f"architecture {cell.architecture!r} is {ARCHITECTURES[cell.architecture]}, "
            f"but profile {profile.name!r} is for {profile.domain}"
        )
    if cell.regime not in REGIMES:
        raise ValueError(f"unknown regime {cell.regime!r}; choose one of: {', '.join(REGIMES)}")
    if cell.regime == "pretrained" and cell.architecture not in PRETRAINING:
        raise ValueError(
            f"no pretraining for {cell.architecture!r}; regime 'pretrained' needs one "
            f"of: {', '.join(PRETRAINING)}"
        )
    if cell.regime == "pretrained":
        method = PRETRAINING[cell.architecture]
        if method in ("simclr", "mlm") and getattr(profile, method) is None:
            raise ValueError(
                f"profile {profile.domain}/{profile.name} has no {method} config, so "
                f"{cell.architecture!r} cannot run in regime 'pretrained'"
            )
    task = task_for(cell, profile)
    task.other(cell.subroutine)  # raises for an unknown subroutine
    for setting in profile.grid():
        mask_region(cell.architecture, setting.region, **_region_kwargs(profile))


# ---------------------------------------------------------------- pieces of a run


def task_for(cell: Cell, profile: Profile):
    if profile.domain == "vision":
        return get_task(cell.task, image_size=profile.image_size, seed=profile.data_seed)
    return get_task(cell.task, number=cell.variant, seed=profile.data_seed)


def _region_kwargs(profile: Profile) -> dict[str, Any]:
    kw = dict(profile.model_kwargs)
    return {"size": profile.model_size, "num_layers": kw.get("num_layers")}


def _model_kwargs(profile: Profile) -> dict[str, Any]:
    """Keyword arguments for ``build_model``: the profile's, and the image size for vision
    (ViT's patch grid and EfficientNet depend on it)."""
    kwargs = dict(profile.model_kwargs)
    if profile.domain == "vision":
        kwargs.setdefault("image_size", profile.image_size)
    return kwargs


def _build(cell: Cell, profile: Profile, cache: Cache | None = None):
    """The cell's model before base training. Without ``cache``: only the architecture
    (random init; the caller loads weights into it)."""
    method = PRETRAINING.get(cell.architecture) if cell.regime == "pretrained" else None
    model = build_model(
        cell.architecture,
        pretrained=cache is not None and method in ("imagenet", "minilm"),
        seed=cell.base_seed,
        size=profile.model_size,
        **_model_kwargs(profile),
    )
    if cache is not None and method in ("simclr", "mlm"):
        model.embedder.load_state_dict(pretrained_embedder(cell, profile, cache)["state_dict"])
    return model


def pretraining_config(cell: Cell, profile: Profile) -> dict[str, Any]:
    """Everything that determines a self-pretrained backbone (its cache key)."""
    method = PRETRAINING[cell.architecture]
    config: dict[str, Any] = {
        "method": method,
        "architecture": cell.architecture,
        "model_size": profile.model_size,
        "model_kwargs": profile.model_kwargs,
        "seed": cell.base_seed,
        "data_seed": profile.data_seed,
    }
    if method == "simclr":
        config.update(
            train=_quiet(replace(profile.simclr, seed=cell.base_seed)),
            image_size=profile.image_size,
            tasks=profile.simclr_tasks,
            problems_per_task=profile.simclr_problems_per_task,
        )
    else:
        config.update(
            train=_quiet(replace(profile.mlm, seed=cell.base_seed)), sentences=profile.mlm_sentences
        )
    return config


def pretrained_embedder(cell: Cell, profile: Profile, cache: Cache) -> dict[str, Any]:
    """The embedder weights after our own self-supervised pretraining (computed once, cached).

    SimCLR (ResNets): on the images of the compositional *training* sets of
    ``profile.simclr_tasks``, never a test image. MLM (BERT-small): on a corpus of
    grammatical template sentences from the training splits. Used by notebook 03.
    """
    config = pretraining_config(cell, profile)

    def pretrain() -> dict[str, Any]:
        embedder = build_model(
            cell.architecture,
            seed=cell.base_seed,
            size=profile.model_size,
            **_model_kwargs(profile),
        ).embedder
        start = time.perf_counter()
        if config["method"] == "simclr":
            images = task_images(
                profile.simclr_tasks,
                image_size=profile.image_size,
                n_per_task=profile.simclr_problems_per_task,
                seed=profile.data_seed,
            )
            history = pretrain_simclr(
                embedder, images, replace(profile.simclr, seed=cell.base_seed)
            )
        else:
            sentences = mlm_corpus(profile.mlm_sentences, seed=profile.data_seed)
            history = pretrain_mlm(embedder, sentences, replace(profile.mlm, seed=cell.base_seed))
        return {
            "state_dict": embedder.state_dict(),
            "history": history,
            "time_s": time.perf_counter() - start,
        }

    return cache.get_or_compute("pretraining", config, pretrain)


def _augment(profile: Profile) -> Callable | None:
    if not profile.augment:
        return None
    from sclib.tasks.vision import augment_images

    return augment_images


def base_config(cell: Cell, profile: Profile) -> dict[str, Any]:
    """Everything that determines a base model (its cache key)."""
    config: dict[str, Any] = {
        "task": cell.task,
        "variant": cell.variant,
        "architecture": cell.architecture,
        "regime": cell.regime,
        "base_seed": cell.base_seed,
        "image_size": profile.image_size,
        "model_size": profile.model_size,
        "model_kwargs": profile.model_kwargs,
        "n_train": profile.n_train,
        "n_val": profile.n_val,
        "n_test": profile.n_test,
        "n_subroutine_test": profile.n_test,
        "data_seed": profile.data_seed,
        "augment": profile.augment,
        "train": _quiet(replace(profile.base, seed=cell.base_seed)),
    }
    if cell.regime == "pretrained" and PRETRAINING[cell.architecture] in ("simclr", "mlm"):
        config["pretraining"] = pretraining_config(cell, profile)
    return config


def base_model(cell: Cell, profile: Profile, cache: Cache, progress: bool = True):
    """The trained base model of a cell and its accuracies (trained once, then cached).

    ``untrained`` regime: the initialised model, never trained on the task (the paper's
    untrained control). Returns ``(model, info)``; ``info`` holds the accuracies on the
    compositional test set, both "+/-" sets and both subroutine sets.
    """
    task = task_for(cell, profile)
    config = base_config(cell, profile)

    def train() -> dict[str, Any]:
        start = time.perf_counter()
        model = _build(cell, profile, cache)
        history: dict[str, Any] = {}
        if cell.regime != "untrained":
            cfg = replace(profile.base, seed=cell.base_seed, progress=progress)
            history = train_base(
                model,
                task.dataset("compositional", "train", profile.n_train),
                cfg,
                val=task.dataset("compositional", "val", profile.n_val),
                augment=_augment(profile),
            )
        accs = {
            "comp_test_acc": evaluate(model, task.dataset("compositional", "test", profile.n_test))
        }
        for sub in task.subroutines:
            accs[f"pm_{sub}_acc"] = evaluate(
                model, task.dataset(f"pm:{sub}", "test", profile.n_test)
            )
            accs[f"subroutine_{sub}_acc"] = evaluate(
                model, task.dataset(f"subroutine:{sub}", "test", profile.n_test)
            )
        return {
            "state_dict": model.state_dict(),
            "info": {**accs, "train_time_s": time.perf_counter() - start, "history": history},
        }

    payload = cache.get_or_compute("base_models", config, train)
    model = _build(cell, profile)
    model.load_state_dict(payload["state_dict"])
    info = dict(payload["info"], base_model_id=config_key(config))
    return model, info


def _mask_config(cell: Cell, profile: Profile, setting: MaskSetting) -> dict[str, Any]:
    return {
        "base": base_config(cell, profile),
        "subroutine": cell.subroutine,
        "mask_seed": cell.mask_seed,
        "setting": setting,
        "n_subroutine": profile.n_subroutine,
        "train": _quiet(
            replace(profile.mask, lr=setting.lr, l0_lambda=setting.l0_lambda, seed=cell.mask_seed)
        ),
    }


def trained_mask(
    cell: Cell, profile: Profile, setting: MaskSetting, base, cache: Cache, progress: bool = True
):
    """A copy of ``base`` with a trained mask for the cell's subroutine: ``(model, masks, info)``."""
    task = task_for(cell, profile)
    model = copy.deepcopy(base)
    include = mask_region(cell.architecture, setting.region, **_region_kwargs(profile))
    masks = add_masks(model, include=include, init=setting.init)
    config = _mask_config(cell, profile, setting)

    def train() -> dict[str, Any]:
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
        val_acc = evaluate(
            model, task.dataset(f"subroutine:{cell.subroutine}", "val", profile.n_val)
        )
        return {
            "logits": masks.state_dict(),
            "info": {
                "val_mask_task_acc": val_acc,
                "kept_fraction": masks.kept_fraction(),
                "train_time_s": time.perf_counter() - start,
                "history": history,
            },
        }

    payload = cache.get_or_compute("masks", config, train)
    masks.load_state_dict(payload["logits"])
    return model, masks, dict(payload["info"])


def search_grid(
    profile: Profile, train: Callable[[MaskSetting], dict[str, Any]]
) -> list[tuple[MaskSetting, dict[str, Any]]]:
    """Train masks down each lambda ladder; return the ``(setting, info)`` of those trained.

    For each (init, lr, region), lambdas from largest to smallest, stopping after the
    first whose ``info["val_mask_task_acc"]`` reaches ``profile.selection_threshold``.

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


def select_setting(candidates: list[tuple[MaskSetting, dict[str, Any]]], threshold: float):
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


def _evaluate_run(cell: Cell, profile: Profile, model, masks) -> dict[str, float]:
    """Subnetwork and ablated accuracies on both "+/-" test sets."""
    task = task_for(cell, profile)
    other = task.other(cell.subroutine)
    sets = {
        "target": task.dataset(f"pm:{cell.subroutine}", "test", profile.n_test),
        "other": task.dataset(f"pm:{other}", "test", profile.n_test),
    }
    out = {f"sub_acc_{k}": evaluate(model, ds) for k, ds in sets.items()}
    out["sub_acc_mask_task"] = evaluate(
        model, task.dataset(f"subroutine:{cell.subroutine}", "test", profile.n_test)
    )
    for mode in ABLATION_MODES:
        with ablated(masks, mode, seed=cell.mask_seed):
            for k, ds in sets.items():
                out[f"{ABLATION_COLUMNS[mode]}_acc_{k}"] = evaluate(model, ds)
    return out


def run_cell(
    cell: Cell, profile: str | Profile = "quick", cache: Cache | None = None, progress: bool = True
) -> dict[str, Any]:
    """Run one cell end to end and return its row (see module docstring)."""
    profile = get_profile(ARCHITECTURES.get(cell.architecture, "vision"), profile)
    check_cell(cell, profile)
    cache = cache if cache is not None else Cache()
    run_key = {"cell": cell, "profile": profile}
    cached = cache.load("runs", run_key)
    if cached is not None:
        return cached

    start = time.perf_counter()
    task = task_for(cell, profile)
    other = task.other(cell.subroutine)
    base, base_info = base_model(cell, profile, cache, progress=progress)
    candidates = search_grid(
        profile, lambda s: trained_mask(cell, profile, s, base, cache, progress=progress)[2]
    )
    setting, mask_info = select_setting(candidates, profile.selection_threshold)
    model, masks, _ = trained_mask(cell, profile, setting, base, cache, progress=False)
    accs = _evaluate_run(cell, profile, model, masks)
    kept = sum(int(k.sum()) for k in masks.kept().values())
    total = sum(k.numel() for k in masks.kept().values())

    row: dict[str, Any] = {
        "source": "sclib",
        "domain": profile.domain,
        **{k: v for k, v in dataclasses.asdict(cell).items()},
        "pretraining": _pretraining(cell),
        "other_subroutine": other,
        "target_test_set": f"pm:{cell.subroutine}",
        "other_test_set": f"pm:{other}",
        "base_model_id": base_info["base_model_id"],
        "base_comp_test_acc": base_info["comp_test_acc"],
        "base_pm_target_acc": base_info[f"pm_{cell.subroutine}_acc"],
        "base_pm_other_acc": base_info[f"pm_{other}_acc"],
        "base_subroutine_acc": base_info[f"subroutine_{cell.subroutine}_acc"],
        **accs,
        "subnetwork_score": float(subnetwork_score(accs["sub_acc_target"], accs["sub_acc_other"])),
    }
    for mode, score in SCORE_COLUMNS.items():
        col = ABLATION_COLUMNS[mode]
        row[score] = float(ablation_score(row[f"{col}_acc_target"], row[f"{col}_acc_other"]))
    excluded = (
        cell.regime != "untrained" and base_info["comp_test_acc"] < profile.exclusion_threshold
    )
    row.update(
        {
            "sub_l0": kept,
            "l0_max": total,
            "sub_l0_fraction": kept / total,
            "masked_stages": setting.region,
            "mask_lr": setting.lr,
            "mask_l0_init": setting.init,
            "l0_lambda": setting.l0_lambda,
            "val_mask_task_acc": mask_info["val_mask_task_acc"],
            "n_grid_points": len(candidates),  # the masks the search trained
            "excluded": bool(excluded),
            "exclusion_note": (
                f"base compositional test accuracy {base_info['comp_test_acc']:.3f} < "
                f"{profile.exclusion_threshold}"
                if excluded
                else ""
            ),
            "profile": profile.name,
            "wall_time_s": time.perf_counter() - start,
            "base_train_time_s": base_info["train_time_s"],
            "mask_train_time_s": mask_info["train_time_s"],
            **provenance(),
        }
    )
    cache.save("runs", run_key, row)
    return row


def _pretraining(cell: Cell) -> str:
    return PRETRAINING[cell.architecture] if cell.regime == "pretrained" else "none"


def iter_grid(
    cell_list: Iterable[Cell],
    profile: str | Profile = "quick",
    cache: Cache | None = None,
    progress: bool = True,
) -> Iterator[dict[str, Any]]:
    """Run cells one after another, yielding each row as soon as it is done.

    With ``progress``, one line per finished run (what ran, cached or how long it took),
    which ``make figures`` shows as the notebooks run.
    """
    cell_list = list(cell_list)
    profiles = [
        get_profile(ARCHITECTURES.get(c.architecture, "vision"), profile) for c in cell_list
    ]
    for cell, prof in zip(cell_list, profiles, strict=True):
        check_cell(cell, prof)  # every bad cell is reported before any training
    cache = cache if cache is not None else Cache()
    for i, (cell, prof) in enumerate(zip(cell_list, profiles, strict=True), 1):
        misses, start = cache.misses, time.perf_counter()
        row = run_cell(cell, prof, cache, progress=False)
        if progress:
            took = "cached" if cache.misses == misses else f"{time.perf_counter() - start:.0f} s"
            name = f"{cell.task}/{cell.subroutine} {cell.architecture} {cell.regime}"
            variant = "" if cell.variant == "none" else f" {cell.variant}"
            print(
                f"[{prof.domain}/{prof.name} run {i}/{len(cell_list)}] {name}{variant} "
                f"seeds {cell.base_seed}/{cell.mask_seed}: {took}",
                flush=True,
            )
        yield row


def run_grid(
    cell_list: Iterable[Cell],
    profile: str | Profile = "quick",
    cache: Cache | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Run cells and return their rows as one tidy table (one row per run)."""
    return pd.DataFrame(list(iter_grid(cell_list, profile, cache, progress)))
