"""The toy lab: the explorer's fallback run and the model of ``06_exercises``.

A tiny MLP (``sclib.models.toy``) on the toy task of ``00_quickstart``
(``sclib.tasks.toy``), trained in seconds on one thread, with one mask per subroutine.
The exercises' helpers are in ``sclib.lab.exercises``.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from sclib.masks import MaskSet, add_masks
from sclib.models.toy import toy_mlp
from sclib.tasks import get_task
from sclib.tasks.base import Task
from sclib.train import BaseTrainConfig, MaskTrainConfig, train_base, train_mask


@dataclass(frozen=True)
class ToyConfig:
    """The toy run: the explorer's fallback and the lab of ``06_exercises``.

    Defaults are ``00_quickstart``'s (about 10 s of training on a 2-core CPU): an MLP
    16 -> 32 -> 32 -> 8 trained on the compositional toy task, then one mask per
    subroutine over every Linear weight.
    """

    dim: int = 16
    hidden: tuple[int, ...] = (32, 32)
    out_dim: int = 8
    n_train: int = 2000
    epochs: int = 30
    patience: int = 5
    lr: float = 1e-3
    n_mask: int = 2000
    mask_epochs: int = 20
    l0_lambda: float = 1e-3
    mask_init: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        positive = ("dim", "out_dim", "n_train", "epochs", "patience", "n_mask", "mask_epochs")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ToyConfig.{name} must be a positive int, not {value!r}")
        if not self.hidden or any(not isinstance(h, int) or h < 1 for h in self.hidden):
            raise ValueError(f"ToyConfig.hidden must be positive layer widths, not {self.hidden!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"ToyConfig.lr must be a positive number, not {self.lr!r}")
        if not (self.l0_lambda >= 0 and math.isfinite(self.l0_lambda)):
            raise ValueError(f"ToyConfig.l0_lambda must be >= 0, not {self.l0_lambda!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"ToyConfig.seed must be a non-negative int, not {self.seed!r}")


@dataclass
class ToyRun:
    """A trained toy base model and one trained mask per subroutine (``train_toy``).

    Attributes:
        task: the toy task.
        model: the base model (no masks on it).
        masks: subroutine -> MaskSet, each on its own copy of ``model``.
        config: how it was made.
        train_time_s: seconds spent training (base model and masks).
    """

    task: Task
    model: nn.Module
    masks: dict[str, MaskSet]
    config: ToyConfig
    train_time_s: float = 0.0


@contextmanager
def one_thread() -> Iterator[None]:
    """Matrices this small train fastest on one thread, and a shared CPU stays fast."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_toy_mask(run: ToyRun, subroutine: str, l0_lambda: float | None = None) -> MaskSet:
    """A new mask for ``subroutine`` on a copy of ``run.model`` (``l0_lambda`` overrides
    the config's sparsity pressure). About 2 s at the default sizes."""
    cfg = run.config
    masks = add_masks(copy.deepcopy(run.model), init=cfg.mask_init)
    lam = cfg.l0_lambda if l0_lambda is None else l0_lambda
    config = MaskTrainConfig(
        epochs=cfg.mask_epochs, l0_lambda=lam, seed=cfg.seed, device="cpu", progress=False
    )
    with one_thread():
        train_mask(
            masks.model,
            masks,
            run.task.dataset(f"subroutine:{subroutine}", "train", cfg.n_mask),
            config,
        )
    masks.model.eval()
    return masks


def train_toy(config: ToyConfig | None = None) -> ToyRun:
    """Train the toy base model, then one mask per subroutine (as in ``00_quickstart``)."""
    cfg = config if config is not None else ToyConfig()
    start = time.perf_counter()
    task = get_task("toy", dim=cfg.dim, seed=cfg.seed)
    model = toy_mlp(cfg.dim, hidden=cfg.hidden, out_dim=cfg.out_dim, seed=cfg.seed)
    base = BaseTrainConfig(
        epochs=cfg.epochs,
        lr=cfg.lr,
        patience=cfg.patience,
        seed=cfg.seed,
        device="cpu",
        progress=False,
    )
    with one_thread():
        train_base(
            model,
            task.dataset("compositional", "train", cfg.n_train),
            base,
            val=task.dataset("compositional", "val", 500),
        )
    run = ToyRun(task, model.eval(), {}, cfg)
    run.masks = {sub: train_toy_mask(run, sub) for sub in task.subroutines}
    run.train_time_s = time.perf_counter() - start
    return run
