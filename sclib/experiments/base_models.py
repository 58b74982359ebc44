"""Base models: what determines one, and training (or loading) it once.

A cell's *base model* is fixed by its task, architecture, regime, variant and base seed
under a profile (``base_config``, its cache key). Regime ``scratch`` trains it from a
random init, ``pretrained`` from pretrained weights (shipped in a package, or our own
self-supervised pretraining: ``pretrained_embedder``), and ``untrained`` keeps the random
init (the paper's control). With ``profile.weight_density`` below 1 the weights of the
profile's first mask region are made sparse (``sclib.sparsity``): by top-k projection
during training, or once at the random init of the untrained control (``sparse_region``).
``sclib.experiments.search`` then trains masks in it and ``sclib.experiments.runner``
turns the result into a row.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from torch import nn

from sclib.experiments.cache import Cache
from sclib.experiments.profiles import PRETRAINING, Cell, Profile, base_training
from sclib.masks import maskable_weights
from sclib.models import build_model, mask_region
from sclib.pretrain.mlm import mlm_corpus, pretrain_mlm
from sclib.pretrain.simclr import pretrain_simclr, task_images
from sclib.sparsity import Sparsifier, keep_top_k_, weight_density
from sclib.stats.vocabulary import Pretraining
from sclib.stopwatch import stage
from sclib.tasks import get_task
from sclib.tasks.base import Task
from sclib.train import BaseTrainConfig, evaluate, train_base


def task_for(cell: Cell, profile: Profile) -> Task:
    """The cell's task with the profile's image size (vision) or the cell's number variant."""
    if profile.domain == "vision":
        return get_task(cell.task, image_size=profile.image_size, seed=profile.data_seed)
    return get_task(cell.task, number=cell.variant, seed=profile.data_seed)


def pretraining_of(cell: Cell) -> Pretraining | None:
    """How the cell's base model was pretrained; None unless its regime is ``pretrained``."""
    return PRETRAINING.get(cell.architecture) if cell.regime == "pretrained" else None


def region_kwargs(profile: Profile) -> dict[str, Any]:
    """Keyword arguments for ``sclib.models.mask_region`` under ``profile``."""
    kw = dict(profile.model_kwargs)
    return {"size": profile.model_size, "num_layers": kw.get("num_layers")}


def _model_kwargs(profile: Profile) -> dict[str, Any]:
    """Keyword arguments for ``build_model``: the profile's, and the image size for vision
    (ViT's patch grid and EfficientNet depend on it)."""
    kwargs = dict(profile.model_kwargs)
    if profile.domain == "vision":
        kwargs.setdefault("image_size", profile.image_size)
    return kwargs


def _quiet(cfg: Any) -> Any:
    return replace(cfg, progress=False)


def _build(cell: Cell, profile: Profile, cache: Cache | None = None):
    """The cell's model before base training. Without ``cache``: only the architecture
    (random init; the caller loads weights into it)."""
    method = pretraining_of(cell)
    model = build_model(
        cell.architecture,
        pretrained=cache is not None and method is not None and not method.self_supervised,
        seed=cell.base_seed,
        size=profile.model_size,
        **_model_kwargs(profile),
    )
    if cache is not None and method is not None and method.self_supervised:
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
    if method is Pretraining.SIMCLR:
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


def _pretrain(cell: Cell, profile: Profile, method: Pretraining) -> dict[str, Any]:
    """Run the cell's self-supervised pretraining: the embedder weights and history."""
    embedder = build_model(
        cell.architecture, seed=cell.base_seed, size=profile.model_size, **_model_kwargs(profile)
    ).embedder
    start = time.perf_counter()
    with stage("pretraining"):
        if method is Pretraining.SIMCLR:
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


def pretrained_embedder(cell: Cell, profile: Profile, cache: Cache) -> dict[str, Any]:
    """The embedder weights after our own self-supervised pretraining (computed once, cached).

    SimCLR (ResNets): on the images of the compositional *training* sets of
    ``profile.simclr_tasks``, never a test image. MLM (BERT-small): on a corpus of
    grammatical template sentences from the training splits. Used by notebook 03.
    """
    config = pretraining_config(cell, profile)
    method = PRETRAINING[cell.architecture]
    return cache.get_or_compute("pretraining", config, lambda: _pretrain(cell, profile, method))


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
        "train": _quiet(
            replace(base_training(profile, cell.regime, cell.task), seed=cell.base_seed)
        ),
    }
    method = pretraining_of(cell)
    if method is not None and method.self_supervised:
        config["pretraining"] = pretraining_config(cell, profile)
    if profile.weight_density < 1:  # dense configs (and their cache keys) stay as they were
        config.update(weight_density=profile.weight_density, sparse_region=profile.regions[0])
    return config


def sparse_region(cell: Cell, profile: Profile) -> list[str] | None:
    """Module patterns of the weight-sparse part of the cell's base model (the profile's
    first mask region); None for a dense base model (``profile.weight_density`` 1)."""
    if profile.weight_density >= 1:
        return None
    return mask_region(cell.architecture, profile.regions[0], **region_kwargs(profile))


def _sparsifier(
    model: nn.Module, region: list[str] | None, profile: Profile, cfg: BaseTrainConfig, n_train: int
) -> Sparsifier | None:
    """``after_step`` of the base training: weight-sparse training of ``region`` (None: dense)."""
    if region is None:
        return None
    total = math.ceil(n_train / cfg.batch_size) * cfg.epochs  # train_base's steps
    total = min(total, cfg.max_steps) if cfg.max_steps is not None else total
    return Sparsifier(model, region, profile.weight_density, total)


def _base_accuracies(task: Task, profile: Profile, model) -> dict[str, float]:
    """A base model's accuracies: compositional test set, each "+/-" and subroutine set."""
    with stage("base_evaluation"):
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
    return accs


def _train_base(cell: Cell, profile: Profile, cache: Cache, progress: bool) -> dict[str, Any]:
    """Build and (unless untrained) train the cell's base model: its weights and info."""
    task = task_for(cell, profile)
    start = time.perf_counter()
    model = _build(cell, profile, cache)
    region = sparse_region(cell, profile)
    history: dict[str, Any] = {}
    if cell.regime != "untrained":
        cfg = replace(
            base_training(profile, cell.regime, cell.task), seed=cell.base_seed, progress=progress
        )
        train_set = task.dataset("compositional", "train", profile.n_train)
        with stage("base_training"):
            history = train_base(
                model,
                train_set,
                cfg,
                val=task.dataset("compositional", "val", profile.n_val),
                augment=_augment(profile),
                after_step=_sparsifier(model, region, profile, cfg, len(train_set)),
            )
    elif region is not None:  # the untrained sparse control: random weights, same density
        keep_top_k_([w for _, w in maskable_weights(model, region)], profile.weight_density)
    accs = _base_accuracies(task, profile, model)
    info = {**accs, "train_time_s": time.perf_counter() - start, "history": history}
    if region is not None:  # measured: early stopping may restore a denser epoch
        info["weight_density"] = weight_density(model, region)
    return {"state_dict": model.state_dict(), "info": info}


def base_model(cell: Cell, profile: Profile, cache: Cache, progress: bool = True):
    """The trained base model of a cell and its accuracies (trained once, then cached).

    ``untrained`` regime: the initialised model, never trained on the task (the paper's
    untrained control). Returns ``(model, info)``; ``info`` holds the accuracies on the
    compositional test set, both "+/-" sets and both subroutine sets.
    """
    config = base_config(cell, profile)
    payload = cache.get_or_compute(
        "base_models", config, lambda: _train_base(cell, profile, cache, progress)
    )
    model = _build(cell, profile)
    model.load_state_dict(payload["state_dict"])
    info = dict(payload["info"], base_model_id=cache.key("base_models", config))
    return model, info
