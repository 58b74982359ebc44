"""Base models: what determines one, and training (or loading) it once.

A cell's *base model* is fixed by its task, architecture, regime, variant and base seed
under a profile (``base_config``, its cache key). Regime ``scratch`` trains it from a
random init, ``pretrained`` from pretrained weights (shipped in a package, or our own
self-supervised pretraining: ``pretrained_embedder``), and ``untrained`` keeps the random
init (the paper's control). ``sclib.experiments.search`` then trains masks in it and
``sclib.experiments.runner`` turns the result into a row.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sclib.experiments.cache import Cache
from sclib.experiments.profiles import PRETRAINING, Cell, Profile
from sclib.models import build_model
from sclib.pretrain.mlm import mlm_corpus, pretrain_mlm
from sclib.pretrain.simclr import pretrain_simclr, task_images
from sclib.stats.vocabulary import Pretraining
from sclib.tasks import get_task
from sclib.tasks.base import Task
from sclib.train import evaluate, train_base


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
    if method is Pretraining.SIMCLR:
        images = task_images(
            profile.simclr_tasks,
            image_size=profile.image_size,
            n_per_task=profile.simclr_problems_per_task,
            seed=profile.data_seed,
        )
        history = pretrain_simclr(embedder, images, replace(profile.simclr, seed=cell.base_seed))
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
        "train": _quiet(replace(profile.base, seed=cell.base_seed)),
    }
    method = pretraining_of(cell)
    if method is not None and method.self_supervised:
        config["pretraining"] = pretraining_config(cell, profile)
    return config


def _base_accuracies(task: Task, profile: Profile, model) -> dict[str, float]:
    """A base model's accuracies: compositional test set, each "+/-" and subroutine set."""
    accs = {"comp_test_acc": evaluate(model, task.dataset("compositional", "test", profile.n_test))}
    for sub in task.subroutines:
        accs[f"pm_{sub}_acc"] = evaluate(model, task.dataset(f"pm:{sub}", "test", profile.n_test))
        accs[f"subroutine_{sub}_acc"] = evaluate(
            model, task.dataset(f"subroutine:{sub}", "test", profile.n_test)
        )
    return accs


def _train_base(cell: Cell, profile: Profile, cache: Cache, progress: bool) -> dict[str, Any]:
    """Build and (unless untrained) train the cell's base model: its weights and info."""
    task = task_for(cell, profile)
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
    accs = _base_accuracies(task, profile, model)
    return {
        "state_dict": model.state_dict(),
        "info": {**accs, "train_time_s": time.perf_counter() - start, "history": history},
    }


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
