"""What a run is and how big: cells, mask settings and what a profile holds.

A *cell* names what is measured: a task, an architecture, a regime (``scratch``,
``pretrained``, ``untrained``), a subroutine, a base seed and a mask seed (and, for
language, the number variant). A *profile* says how big everything is; the profiles
themselves (``quick``, ``full``, ``paper``) are ``sclib.experiments.profile_settings``.
``sclib.experiments.runner`` runs them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from sclib.config_keys import key_neutral
from sclib.models import PRETRAINED
from sclib.pretrain.mlm import MLMConfig
from sclib.pretrain.simclr import SimCLRConfig
from sclib.stats.vocabulary import Pretraining
from sclib.tasks import get_task
from sclib.train import BaseTrainConfig, MaskTrainConfig

# what "pretrained" means per architecture: weights shipped in a package, or our own
# self-supervised pretraining (SimCLR on the task images, MLM on our template corpus)
PRETRAINING: dict[str, Pretraining] = {
    "efficientnet_lite0": Pretraining.IMAGENET,
    "minilm": Pretraining.MINILM,
    "resnet": Pretraining.SIMCLR,
    "wide_resnet": Pretraining.SIMCLR,
    "bert_small": Pretraining.MLM,
}
assert set(PRETRAINED) <= set(PRETRAINING)


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

    def __post_init__(self) -> None:
        for name in ("task", "architecture", "subroutine", "regime", "variant"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"Cell.{name} must be a non-empty string, got {value!r}")
        for name in ("base_seed", "mask_seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not hasattr(value, "__index__") or value < 0:
                raise ValueError(f"Cell.{name} must be a non-negative int, got {value!r}")


@dataclass(frozen=True)
class MaskSetting:
    """One point of the mask hyperparameter grid."""

    init: float
    lr: float
    region: str
    l0_lambda: float


def lambda_ladder(lambda_max: float, factor: float, n_rungs: int) -> tuple[float, ...]:
    """A geometric ladder of L0 lambdas: ``lambda_max * factor**k`` for ``k < n_rungs``
    (3 significant digits), the strongest sparsity pressure first.

    The rule of every profile's ladder: ``lambda_max`` empties every mask of a trained
    model, and the search (``sclib.experiments.search``) walks down until a subnetwork
    reaches the selection threshold on validation; a ladder is calibrated only on
    validation accuracy and kept fraction, never on ablation results.

    >>> lambda_ladder(1e-3, 10**-0.5, 4)
    (0.001, 0.000316, 0.0001, 3.16e-05)
    """
    if not lambda_max > 0 or not 0 < factor < 1 or n_rungs < 1:
        raise ValueError(
            f"lambda_ladder needs lambda_max > 0, 0 < factor < 1 and n_rungs >= 1; got "
            f"{lambda_max!r}, {factor!r}, {n_rungs!r}"
        )
    return tuple(float(f"{lambda_max * factor**k:.3g}") for k in range(n_rungs))


@dataclass(frozen=True)
class Profile:
    """How big a run is. Three exist per domain: ``quick``, ``full`` and ``paper``
    (``sclib.experiments.profile_settings.PROFILES``).

    Attributes:
        name, domain: e.g. ``"quick"``, ``"vision"``.
        image_size: vision only; rendered image side in pixels.
        model_size: ``size`` given to ``build_model``.
        model_kwargs: extra keyword arguments for ``build_model`` (e.g. ``num_layers``).
        n_train, n_subroutine, n_val, n_test: problems in the compositional training set,
            each subroutine (mask-training) set, each validation and each test set.
        base, mask: training configs; the mask's lr and lambda come from the grid.
        inits, lrs, regions, lambdas: the mask grid (the paper's: inits {0.1, 0.05, 0,
            -0.05}, lrs {1e-2, 1e-4}, three regions, lambda 1e-8); the lambdas are a
            ladder (``lambda_ladder``: from one that empties every mask, down by a fixed
            factor) searched largest first (``sclib.experiments.search.search_grid``).
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
        weight_density: target nonzero fraction of each weight tensor of the base model
            in the sparsified region, the profile's first mask region ``regions[0]``
            (``sclib.sparsity``: top-k by magnitude after every step, annealed over the
            first half of training; the untrained control gets random weights at the same
            density); 1.0 (the default, the paper's) = dense.
        stall_min_drop: a mask-search rung whose training cross-entropy has fallen by less
            than this fraction of its first epoch's by half-time stops there and fails
            (``MaskTrainConfig.stall_min_drop``); None (the default) trains every rung to
            its last epoch. Key-neutral: a profile without it keeps its cache keys.
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
    weight_density: float = 1.0
    stall_min_drop: float | None = key_neutral(None)

    def __post_init__(self) -> None:
        d = self.weight_density
        if isinstance(d, bool) or not isinstance(d, int | float) or not 0 < d <= 1:
            raise ValueError(f"Profile.weight_density must be in (0, 1] (1 = dense), got {d!r}")
        if self.stall_min_drop is not None and not 0 <= self.stall_min_drop < 1:
            raise ValueError(
                f"Profile.stall_min_drop must be None (off) or in [0, 1), got {self.stall_min_drop!r}"
            )

    def grid(self) -> list[MaskSetting]:
        """Every mask hyperparameter setting of the profile (the most a search trains)."""
        return [
            MaskSetting(i, lr, r, lam)
            for i in self.inits
            for lr in self.lrs
            for r in self.regions
            for lam in self.lambdas
        ]


# (architecture, regime) pairs a profile's default grid leaves out; outside the Profile
# itself, so its runs' cache keys do not change. The paper pretrained only its ResNet50
# (SimCLR; its WideResNet50 ran from scratch and untrained): ``paper`` leaves the pretrained
# WideResNet out to be the paper's grid, and ``standard`` (issue #15, 8 hours of a 2-core
# machine) to fit its budget (9 base-model jobs and 3 SimCLR runs: about 8 of 25
# CPU-hours). ``full`` keeps it, beyond the paper.
_PAPERS_SIMCLR_ONLY = frozenset({("wide_resnet", "pretrained")})
# ``standard`` language leaves BERT-small after our MLM out (issue #15): no dose and
# fine-tuning recipe we tried takes it past the exclusion threshold (300 MLM steps then
# 2 epochs at 5e-5: 0.44-0.51; 1e-4 over 4 one-cycle epochs: 0.67; 100 steps: 0.41;
# ``scripts/mlm_dose_check.py``, data/results/mlm_dose_standard_check.csv; and the 8 epochs
# at 5e-5 that take pretrained MiniLM past its plateau, ``PRETRAINED_BASE``: 0.63,
# data/results/pretrained_recipe_check.csv), so its 6 jobs
# (about 6.7 of the remaining CPU-hours) would only add excluded runs. The language
# pretrained regime is MiniLM's; ``full`` and ``paper`` keep BERT-small's.
_OUR_MLM = frozenset({("bert_small", "pretrained")})
LEFT_OUT: dict[tuple[str, str], frozenset[tuple[str, str]]] = {
    ("vision", "standard"): _PAPERS_SIMCLR_ONLY,
    ("vision", "paper"): _PAPERS_SIMCLR_ONLY,
    ("language", "standard"): _OUR_MLM,
}
# ``standard`` vision runs the WideResNet on Inside-Contact alone (issue #15: "if it does
# not fit, cut variants before seeds or architectures"). Measured (``make plan
# PROFILE=standard`` at 4fb1622): a WideResNet base model takes about 55 CPU-minutes where
# the ResNet's takes 7, so its 12 jobs on Inside-Number and Number-Contact (about 6.1
# CPU-hours with their untrained controls) would take the profile to about 18 CPU-hours,
# past its budget of 8 hours of the 2-core machine (16 CPU-hours); without them, about 12
# (committed runs: about 7 CPU-hours of base and mask training; the plan: 11 left).
# The second architecture family stays, on the task the paper's vision figures lead with,
# with three base seeds in every regime it has. ``full`` and ``paper`` keep every task.
TASKS_LEFT_OUT: dict[tuple[str, str], frozenset[tuple[str, str]]] = {
    ("vision", "standard"): frozenset(
        {("inside_number", "wide_resnet"), ("number_contact", "wide_resnet")}
    ),
}


# Mask seeds beyond the profile's ``mask_seeds`` for one cell per domain (issue #15), keyed
# (domain, profile) then (task, architecture, regime): the paper's mask overlap is the IoU
# of each subroutine's masks intersected over 3 mask seeds (PAPER.md; the ``intersect_seeds``
# method of ``sclib.experiments.collect_masks``), which one mask seed per base model cannot
# give. ``standard`` trains them on one cell per domain: the ResNet from scratch on
# Inside-Contact (its conv stages and MLP head, where the paper gives its bands: IoU
# 0.03-0.12 in conv layers, 0.24-0.32 in the MLP) and BERT-small from scratch on SV
# agreement, every base seed, spares included: about 12 runs of 2.5 and 5 CPU-minutes. Outside the Profile, like
# ``LEFT_OUT``, so no run changes key; the runs of mask seed 0 are those of every other
# cell. Their scores enter the cell's statistics as the paper's did (three mask seeds per
# base model, errors clustered by base model: ``sclib.stats.glm``).
EXTRA_MASK_SEEDS: dict[tuple[str, str], dict[tuple[str, str, str], tuple[int, ...]]] = {
    ("vision", "standard"): {("inside_contact", "resnet", "scratch"): (0, 1, 2)},
    ("language", "standard"): {("sv_agreement", "bert_small", "scratch"): (0, 1, 2)},
}


# Spare base seeds (issues #15, #16): a trained cell keeps ``len(profile.base_seeds)`` base
# seeds; when one's base model fails the accuracy criterion (``exclusion_threshold``), the
# next spare seed stands in, in order: its job runs with ``python -m sclib.grid run ...
# --seed 3``, and the cell's included seeds are the first that pass, in seed order
# (``sclib.experiments.seeds``). A rule fixed in advance on base accuracy alone, never on
# a score. Outside the Profile, like ``LEFT_OUT``, so no cached run changes key. The
# paper (3 seeds, failures excluded, not replaced) has none.
SPARE_SEEDS: dict[str, tuple[int, ...]] = {"standard": (3, 4), "full": (3, 4)}


# The base training of the ``pretrained`` regime where it is not the profile's ``base``
# (issue #15): the recipe that takes a model from scratch to 1.00 can leave a pretrained one
# short of the exclusion threshold, and a regime whose base models are excluded carries no
# evidence. Calibrated on base-model accuracy alone (scripts/pretrained_recipe_check.py),
# never on a score. Outside the Profile, like ``LEFT_OUT``, so no other run changes key; the
# runs it applies to carry it in theirs (``run_config``).
# Measured (scripts/pretrained_recipe_check.py, data/results/pretrained_recipe_check.csv):
# with 2 epochs at 5e-5, MiniLM's pretrained embedder stays on SV agreement's heuristic
# plateau (validation 0.60-0.65) for base seeds 0 and 1; at the same lr every seed leaves
# it, abruptly, by epoch 5 (seeds 0, 1, 2 at epochs 3, 5, 2: validation 1.00, and 1.00 on
# the compositional test after 8). Eight epochs: the slowest seed's jump with room to spare.
# Anaphora, run after the choice: its seeds jump at epochs 3, 3 and 7 (1.00 after 8), so
# there 8 is just enough. Only the pretrained regime: from scratch 2 epochs reach 1.00.
_LANGUAGE_PRETRAINED = BaseTrainConfig(epochs=8, batch_size=32, lr=5e-5, patience=None)
PRETRAINED_BASE: dict[tuple[str, str], BaseTrainConfig] = {
    ("language", "quick"): _LANGUAGE_PRETRAINED,
    ("language", "standard"): _LANGUAGE_PRETRAINED,
}


# The base training of one (regime, task) where neither the profile's ``base`` nor
# ``PRETRAINED_BASE`` learns it (issue #15), keyed (domain, profile, regime, task);
# calibrated, like ``PRETRAINED_BASE``, on base-model accuracy alone
# (scripts/pretrained_recipe_check.py [--regime scratch]), never on a score.
# Number-Contact on the standard ResNet: with 8 one-cycle epochs at 2e-3 every base model
# stopped short of the criterion (scratch 0.80, 0.83, 0.86; pretrained 0.85, 0.92, 0.84:
# all six excluded); 16 took the two seeds checked past it (scratch 0.986, 0.922;
# pretrained 0.994, 0.990; data/results/pretrained_recipe_check.csv), validation still
# rising at epoch 8 in every one. The same lr and schedule, twice the epochs; the other
# tasks, learnt in 8, keep the profile's (tests/test_profiles.py holds the two equal but
# for the epochs).
_VISION_16 = BaseTrainConfig(epochs=16, batch_size=64, lr=2e-3, schedule="onecycle", patience=None)
TASK_BASE: dict[tuple[str, str, str, str], BaseTrainConfig] = {
    ("vision", "standard", "scratch", "number_contact"): _VISION_16,
    ("vision", "standard", "pretrained", "number_contact"): _VISION_16,
}


def base_training(profile: Profile, regime: str, task: str | None = None) -> BaseTrainConfig:
    """How a base model of ``regime`` (on ``task``) is trained under ``profile``:
    ``TASK_BASE`` for that regime and task, else ``PRETRAINED_BASE`` for the pretrained
    regime, where they have the profile; else ``profile.base``. The untrained regime is not
    trained: always the profile's ``base``."""
    if regime == "untrained":
        return profile.base
    if task is not None:
        recipe = TASK_BASE.get((profile.domain, profile.name, regime, task))
        if recipe is not None:
            return recipe
    if regime == "pretrained":
        return PRETRAINED_BASE.get((profile.domain, profile.name), profile.base)
    return profile.base


def run_config(cell: Cell, profile: Profile) -> dict[str, Any]:
    """Everything that determines a cell's run row (its cache key): the cell, the profile
    and, where it is not the profile's ``base``, the base training (``base_training``)."""
    config: dict[str, Any] = {"cell": cell, "profile": profile}
    train = base_training(profile, cell.regime, cell.task)
    if train != profile.base:
        config["base"] = train
    return config


def spare_seeds(profile: Profile) -> tuple[int, ...]:
    """The base seeds that may stand in for ``profile``'s failed ones (``SPARE_SEEDS``)."""
    return SPARE_SEEDS.get(profile.name, ())


def left_out(profile: Profile, architecture: str, regime: str, task: str | None = None) -> bool:
    """Whether ``profile``'s default grid leaves (architecture, regime) out (``LEFT_OUT``),
    or, given ``task``, the architecture on that task (``TASKS_LEFT_OUT``)."""
    key = (profile.domain, profile.name)
    if (architecture, regime) in LEFT_OUT.get(key, ()):
        return True
    return task is not None and (task, architecture) in TASKS_LEFT_OUT.get(key, ())


def can_pretrain(architecture: str, profile: Profile) -> bool:
    """Whether ``architecture`` can run in regime "pretrained" under ``profile``: it has a
    pretraining, and the profile configures it when sclib runs it itself (SimCLR, MLM)."""
    method = PRETRAINING.get(architecture)
    if method is None:
        return False
    return not method.self_supervised or getattr(profile, method.value) is not None


def cells(profile: Profile, **overrides: Iterable[Any]) -> list[Cell]:
    """Every cell of a profile's default grid (override any axis, e.g. ``tasks=[...]``);
    pairs the profile leaves out (``LEFT_OUT``, ``TASKS_LEFT_OUT``) stay out, whatever the
    overrides. A (task, architecture, regime) with mask seeds of its own
    (``EXTRA_MASK_SEEDS``) has them unless ``mask_seeds`` is overridden."""
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
    extra = (
        {}
        if "mask_seeds" in overrides
        else EXTRA_MASK_SEEDS.get((profile.domain, profile.name), {})
    )
    out = []
    for t in axes["tasks"]:
        for sub in get_task(t).subroutines:
            for a in axes["architectures"]:
                for r in axes["regimes"]:
                    if r == "pretrained" and not can_pretrain(a, profile):
                        continue
                    if left_out(profile, a, r, t):
                        continue
                    for v in axes["variants"]:
                        for b in axes["base_seeds"]:
                            for m in extra.get((t, a, r), axes["mask_seeds"]):
                                out.append(Cell(t, a, sub, r, v, b, m))
    return out


def tiny_profile(profile: Profile) -> Profile:
    """A seconds-long version of ``profile`` that checks code runs; its numbers mean nothing.

    Used by the notebooks' ``TINY`` test hook and the tests. ``exclusion_threshold=0`` and
    ``selection_threshold=0`` so one-epoch base models and masks still reach the figures
    (every mask passes: the search stops at the top rung of each ladder).
    """
    small: dict[str, Any] = dict(
        name="tiny",
        n_train=32,
        n_subroutine=32,
        n_val=16,
        n_test=16,
        exclusion_threshold=0.0,
        selection_threshold=0.0,
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
