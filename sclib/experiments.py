"""Experiments: one cell -> base model -> mask -> evaluations -> one tidy row.

A *cell* names what is measured: a task, an architecture, a regime (``scratch``,
``pretrained``, ``untrained``), a subroutine, a base seed and a mask seed (and, for
language, the number variant). A *profile* says how big everything is: ``quick`` for a
2-core CPU and a classroom, ``full`` for the paper's sizes on a GPU.

``run_cell`` trains (or loads) the base model, trains one mask per point of the
profile's hyperparameter grid on the subroutine set, selects one on the validation
split, and evaluates the subnetwork, the zero-ablated model and three random
ablations on both "+/-" test sets. Everything expensive is cached on disk under its full
configuration (``sclib.cache``), so a rerun or an interrupted run repeats no finished work.

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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from sclib.cache import Cache, config_key
from sclib.masks import ABLATION_MODES, ablated, add_masks
from sclib.models import ARCHITECTURES, PRETRAINED, build_model, mask_region
from sclib.pretrain_language import MLMConfig, mlm_corpus, pretrain_mlm
from sclib.pretrain_vision import SimCLRConfig, pretrain_simclr, task_images
from sclib.provenance import provenance
from sclib.stats import ablation_score, subnetwork_score
from sclib.tasks import get_task
from sclib.train import BaseTrainConfig, MaskTrainConfig, evaluate, train_base, train_mask

REGIMES = ("scratch", "pretrained", "untrained")
# what "pretrained" means per architecture: weights shipped in a package, or our own
# self-supervised pretraining (SimCLR on the task images, MLM on our template corpus)
PRETRAINING: dict[str, str] = {
    "efficientnet_lite0": "imagenet",
    "minilm": "minilm",
    "resnet": "simclr",
    "wide_resnet": "simclr",
    "bert_small": "mlm",
}
assert set(PRETRAINED) <= set(PRETRAINING)
ROOT = Path(__file__).resolve().parents[1]
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


@dataclass(frozen=True)
class Cell:
    """One measurement: which model, which subroutine, which seeds."""

    task: str
    architecture: str
    subroutine: str
    regime: str = "scratch"
    variant: str = "none"
    base_seed: int = 0
    mask_seed: int = 0


@dataclass(frozen=True)
class MaskSetting:
    """One point of the mask hyperparameter grid."""

    init: float
    lr: float
    region: str
    l0_lambda: float


@dataclass(frozen=True)
class Profile:
    """How big a run is. Two exist per domain: ``quick`` and ``full`` (``PROFILES``).

    Attributes:
        name, domain: e.g. ``"quick"``, ``"vision"``.
        image_size: vision only; rendered image side in pixels.
        model_size: ``size`` given to ``build_model``.
        model_kwargs: extra keyword arguments for ``build_model`` (e.g. ``num_layers``).
        n_train, n_subroutine, n_val, n_test: problems in the compositional training set,
            each subroutine (mask-training) set, each validation and each test set.
        base, mask: training configs; the mask's lr and lambda come from the grid.
        inits, lrs, regions, lambdas: the mask grid (the paper's: inits {0.1, 0.05, 0,
            -0.05}, lrs {1e-2, 1e-4}, three regions, lambda per model size).
        selection_threshold: validation mask-task accuracy a grid point must reach.
        exclusion_threshold: base models below this compositional test accuracy are
            reported and excluded (the paper excluded one at 0.756 when the rest were
            >= 0.994).
        augment: vision base training flips/transposes each image.
        tasks, architectures, regimes, variants, base_seeds, mask_seeds: the default grid
            of cells that ``cells(profile)`` expands.
        data_seed: seeds every generated dataset.
        simclr, simclr_tasks, simclr_problems_per_task: SimCLR pretraining of ResNets on
            the images of these tasks' compositional training sets (regime "pretrained").
        mlm, mlm_sentences: masked-language-model pretraining of BERT-small on a corpus
            of our own grammatical template sentences (regime "pretrained").
    """

    name: str
    domain: str
    base: BaseTrainConfig
    mask: MaskTrainConfig
    image_size: int | None = None
    model_size: str = "quick"
    model_kwargs: tuple[tuple[str, Any], ...] = ()
    n_train: int = 8000
    n_subroutine: int = 3000
    n_val: int = 300
    n_test: int = 500
    inits: tuple[float, ...] = (0.05,)
    lrs: tuple[float, ...] = (1e-2,)
    regions: tuple[str, ...] = ("stage3+",)
    lambdas: tuple[float, ...] = (1e-5,)
    selection_threshold: float = 0.9
    exclusion_threshold: float = 0.9
    augment: bool = False
    tasks: tuple[str, ...] = ()
    architectures: tuple[str, ...] = ()
    regimes: tuple[str, ...] = ("scratch",)
    variants: tuple[str, ...] = ("none",)
    base_seeds: tuple[int, ...] = (0,)
    mask_seeds: tuple[int, ...] = (0,)
    data_seed: int = 0
    simclr: SimCLRConfig | None = None
    simclr_tasks: tuple[str, ...] = ("inside_contact", "inside_number", "number_contact")
    simclr_problems_per_task: int = 1000
    mlm: MLMConfig | None = None
    mlm_sentences: int = 20000

    def grid(self) -> list[MaskSetting]:
        """Every mask hyperparameter setting of the profile (the most a search trains)."""
        return [
            MaskSetting(i, lr, r, lam)
            for i in self.inits
            for lr in self.lrs
            for r in self.regions
            for lam in self.lambdas
        ]


def _quiet(cfg: Any) -> Any:
    return replace(cfg, progress=False)


PROFILES: dict[tuple[str, str], Profile] = {
    # Measured on the 2-core CPU: sclib's quick ResNet (widths 8-64, stride-1 stem) costs
    # ~0.34 s a step at 48 px but ~0.14 s at 32 px, where 1,000 steps converge (1.00 on the
    # compositional test). At 32 px, lambda 4e-5 kept 8-11% of stages 3-4 + MLP and its
    # ablation removed both subroutines; lambda 1e-4 (3-5% kept) was selective for both.
    ("vision", "quick"): Profile(
        name="quick",
        domain="vision",
        image_size=32,
        model_size="quick",
        n_train=8000,
        n_subroutine=3000,
        n_val=300,
        n_test=500,
        base=BaseTrainConfig(epochs=8, batch_size=64, lr=2e-3, schedule="onecycle", patience=None),
        mask=MaskTrainConfig(epochs=5, batch_size=64, anneal="step"),
        inits=(0.05,),
        lrs=(1e-2,),
        regions=("stage3+",),
        # a ladder (see search_grid): trained models stop at 1e-4; in the untrained
        # control every mask emptied at 1e-4 and 1e-5, while 1e-6 kept 28% (validation
        # 0.89) and 1e-7 50% (0.91), measured on the CPU
        lambdas=(1e-4, 1e-6),
        augment=True,
        tasks=("inside_contact",),
        architectures=("resnet",),
        # notebook 03's pretrained regime: a short SimCLR on this task's training images
        # (the paper: 100 epochs on every task's images)
        simclr=SimCLRConfig(epochs=2, batch_size=128, max_steps=300),
        simclr_tasks=("inside_contact",),
        simclr_problems_per_task=8000,
    ),
    ("vision", "full"): Profile(
        name="full",
        domain="vision",
        image_size=64,
        model_size="full",
        n_train=10000,
        n_subroutine=10000,
        n_val=500,
        n_test=1000,
        base=BaseTrainConfig(epochs=30, batch_size=64, lr=1e-3, schedule="onecycle", patience=None),
        mask=MaskTrainConfig(epochs=20, batch_size=64, anneal="epoch"),
        inits=(0.1, 0.05, 0.0, -0.05),
        lrs=(1e-2, 1e-4),
        regions=("all", "stage3+", "stage4"),
        lambdas=(1e-8, 1e-7, 1e-6),
        augment=True,
        tasks=("inside_contact", "inside_number", "number_contact"),
        architectures=("resnet", "wide_resnet", "vit", "efficientnet_lite0"),
        regimes=("scratch", "pretrained", "untrained"),
        simclr=SimCLRConfig(epochs=100, batch_size=128),  # the paper's
        simclr_problems_per_task=10000,
        base_seeds=(0, 1, 2),
        mask_seeds=(0, 1, 2),
    ),
    ("language", "quick"): Profile(
        name="quick",
        domain="language",
        model_kwargs=(("num_layers", 4),),
        n_train=2000,
        n_subroutine=1000,
        n_val=200,
        n_test=300,
        base=BaseTrainConfig(epochs=2, batch_size=32, lr=5e-5, patience=None),
        mask=MaskTrainConfig(epochs=4, batch_size=32, anneal="step"),
        inits=(0.1,),
        lrs=(1e-2,),
        regions=("from_layer_2",),
        # measured on the 2-core CPU (128 mask steps), pretrained: 1e-6 kept 13% and its
        # ablation hit the *other* subroutine; 1e-4 collapsed to an empty mask; 1e-5 kept
        # 0.3-1.4%. Untrained control: empty at 1e-5, 1e-6 and 1e-7; 1e-8 kept 15%
        # (validation 1.00), no penalty 81%. Hence the ladder (see search_grid).
        lambdas=(1e-5, 1e-8),
        tasks=("sv_agreement",),
        architectures=("minilm",),
        regimes=("pretrained",),
        variants=("singular",),
    ),
    ("language", "full"): Profile(
        name="full",
        domain="language",
        model_kwargs=(("num_layers", 4),),
        n_train=9500,
        n_subroutine=2000,
        n_val=500,
        n_test=300,
        base=BaseTrainConfig(epochs=10, batch_size=64, lr=1e-4, patience=2),
        mask=MaskTrainConfig(epochs=10, batch_size=32, anneal="epoch"),
        inits=(0.1, 0.05, 0.0, -0.05),
        lrs=(1e-2, 1e-4),
        regions=("from_layer_0", "from_layer_2", "from_layer_3"),
        lambdas=(1e-7, 1e-6, 1e-5),
        tasks=("sv_agreement", "anaphora"),
        architectures=("bert_small", "minilm"),
        regimes=("scratch", "pretrained", "untrained"),
        mlm=MLMConfig(epochs=5, batch_size=64),
        mlm_sentences=50000,
        variants=("singular", "plural"),
        base_seeds=(0, 1, 2),
        mask_seeds=(0, 1, 2),
    ),
}


def get_profile(domain: str, name: str | Profile = "quick") -> Profile:
    """The profile ``name`` of ``domain`` (a ``Profile`` is returned as it is)."""
    if isinstance(name, Profile):
        return name
    if (domain, name) not in PROFILES:
        valid = ", ".join(f"{d}/{n}" for d, n in PROFILES)
        raise ValueError(f"unknown profile {domain}/{name}; choose one of: {valid}")
    return PROFILES[(domain, name)]


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


def _can_pretrain(arch: str, profile: Profile) -> bool:
    method = PRETRAINING.get(arch)
    return method is not None and (method not in ("simclr", "mlm") or getattr(profile, method))


def cells(profile: Profile, **overrides: Iterable[Any]) -> list[Cell]:
    """Every cell of a profile's default grid (override any axis, e.g. ``tasks=[...]``)."""
    axes = {
        "tasks": profile.tasks,
        "architectures": profile.architectures,
        "regimes": profile.regimes,
        "variants": profile.variants,
        "base_seeds": profile.base_seeds,
        "mask_seeds": profile.mask_seeds,
    }
    unknown = set(overrides) - set(axes)
    if unknown:
        raise ValueError(f"unknown grid axes {sorted(unknown)}; choose from: {', '.join(axes)}")
    axes.update({k: tuple(v) for k, v in overrides.items()})
    out = []
    for t in axes["tasks"]:
        for sub in get_task(t).subroutines:
            for a in axes["architectures"]:
                for r in axes["regimes"]:
                    if r == "pretrained" and not _can_pretrain(a, profile):
                        continue
                    for v in axes["variants"]:
                        for b in axes["base_seeds"]:
                            for m in axes["mask_seeds"]:
                                out.append(Cell(t, a, sub, r, v, b, m))
    return out


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


def cached_runs(cache: Cache | None = None) -> pd.DataFrame:
    """Every run row stored in the cache (any profile), one row per run; empty if none."""
    cache = cache if cache is not None else Cache()
    if cache.root is None or not (cache.root / "runs").exists():
        return pd.DataFrame()
    rows = []
    for entry in sorted((cache.root / "runs").iterdir()):
        try:
            rows.append(torch.load(entry / "payload.pt", weights_only=False))
        except Exception:  # a partial entry: run_cell will recompute it
            continue
    return pd.DataFrame(rows)


def load_cell(cell: Cell, profile: str | Profile = "quick", cache: Cache | None = None):
    """The model with its selected, trained mask for a cell: ``(model, masks, row)``.

    Runs the cell first if it is not cached yet (reads everything from the cache if it is).
    The model is in eval mode with the binary mask on; use ``sclib.masks.ablated`` or
    ``masks.disabled()`` on it.
    """
    profile = get_profile(ARCHITECTURES.get(cell.architecture, "vision"), profile)
    cache = cache if cache is not None else Cache()
    row = run_cell(cell, profile, cache, progress=False)
    base, _ = base_model(cell, profile, cache, progress=False)
    setting = MaskSetting(
        row["mask_l0_init"], row["mask_lr"], row["masked_stages"], row["l0_lambda"]
    )
    model, masks, _ = trained_mask(cell, profile, setting, base, cache, progress=False)
    return model.eval(), masks, row


def tiny_profile(profile: Profile) -> Profile:
    """A seconds-long version of ``profile`` that checks code runs; its numbers mean nothing.

    Used by the notebooks' ``TINY`` test hook and the tests. ``exclusion_threshold=0`` so
    one-epoch base models still reach the figures.
    """
    small: dict[str, Any] = dict(
        name="tiny", n_train=32, n_subroutine=32, n_val=16, n_test=16, exclusion_threshold=0.0
    )
    small.update(base=replace(profile.base, epochs=1), mask=replace(profile.mask, epochs=1))
    if profile.domain == "language":
        small.update(model_kwargs=(("num_layers", 2),), regions=("from_layer_1",))
    if profile.simclr is not None:
        small.update(
            simclr=replace(profile.simclr, epochs=1, max_steps=2, batch_size=16),
            simclr_problems_per_task=8,
        )
    if profile.mlm is not None:
        small.update(
            mlm=replace(profile.mlm, epochs=1, max_steps=2, batch_size=16), mlm_sentences=32
        )
    return replace(profile, **small)
