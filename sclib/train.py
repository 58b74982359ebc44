"""Train a base model or a mask on odd-one-out problems, and measure accuracy.

The paper's format (Lepori et al., arXiv 2301.10884): ``model(items)`` gives scores (B, 4),
the loss is cross-entropy over the 4 positions, and the order of the items is shuffled
anew for every problem in every batch. This module knows no task or model: it takes a
model, a dataset of problems (``sclib.tasks.ProblemSet``) and a frozen config, and every
random choice it makes comes from ``config.seed``, so the same seed on the same device
gives the same numbers.

>>> from sclib.tasks import get_task
>>> from sclib.models.toy import toy_mlp
>>> task = get_task("toy", dim=8)
>>> model = toy_mlp(8, hidden=16, out_dim=4)
>>> history = train_base(model, task.dataset("compositional", n=64),
...                      BaseTrainConfig(epochs=1, progress=False))
>>> sorted(history)[:3], len(history["train_loss"])
(['best_epoch', 'epoch', 'lr'], 1)
>>> 0.0 <= evaluate(model, task.dataset("compositional", "test", n=32)) <= 1.0
True
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from sclib.batches import Steps, problem_loader, random_streams, to_device, torch_seed
from sclib.config_keys import key_neutral
from sclib.runtime import device_of, resolve_device, seeded, training_mode

SCHEDULES = ("constant", "onecycle", "cosine")
ANNEALS = ("epoch", "step")


def check_training_args(
    epochs: int, batch_size: int, lr: float, device: str, max_steps: int | None = None
) -> None:
    """Check the arguments every training config has (``sclib.pretrain``'s too); a
    ``ValueError`` names the bad value."""
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", str(device)):
        raise ValueError(f"unknown device {device!r}; choose one of: auto, cpu, cuda, cuda:N, mps")
    if max_steps is not None and (not isinstance(max_steps, int) or max_steps < 1):
        raise ValueError(f"max_steps must be a positive int or None, got {max_steps!r}")


@dataclass(frozen=True)
class BaseTrainConfig:
    """How to train a base model (``train_base``).

    Attributes:
        epochs: passes over the training set (paper: up to 100, with early stopping).
        batch_size: problems per step (paper: 32 or 64, swept).
        lr: Adam learning rate (paper: swept over 1e-2 .. 1e-5).
        weight_decay: Adam weight decay (paper: Adam, none).
        seed: seeds the batch order, the item order and anything random in the model.
        patience: stop after this many epochs without a lower validation loss (only with
            ``val``); ``None`` never stops early. The best-val-loss weights are restored.
        max_steps: stop after this many optimizer steps (``None``: no limit).
        schedule: ``"constant"`` (paper), ``"onecycle"`` or ``"cosine"`` over all steps.
        device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda[:N]"``, ``"mps"``.
        progress: show a tqdm progress bar.
    """

    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    patience: int | None = 10
    max_steps: int | None = None
    schedule: str = "constant"
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        check_training_args(self.epochs, self.batch_size, self.lr, self.device, self.max_steps)
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.patience is not None and (not isinstance(self.patience, int) or self.patience < 1):
            raise ValueError(f"patience must be a positive int or None, got {self.patience!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"unknown schedule {self.schedule!r}; choose one of: {', '.join(SCHEDULES)}"
            )


@dataclass(frozen=True)
class MaskTrainConfig:
    """How to train a mask (``train_mask``); defaults are the paper's.

    Attributes:
        epochs: passes over the subroutine set (paper: 90).
        batch_size: problems per step (paper: 64).
        lr: Adam learning rate on the mask logits (paper: 1e-2 or 1e-4).
        l0_lambda: weight of the L0 penalty ``masks.l0()`` (paper: 1e-8 for ~19M masked
            weights; smaller models need larger values, ../CALIBRATION.md).
        max_temperature: the temperature goes from 1 to this (paper: 200).
        anneal: ``"epoch"`` multiplies the temperature by ``max_temperature ** (1 / epochs)``
            after each epoch (paper); ``"step"`` does the same per step, smoother for
            short runs.
        seed: seeds the batch order and the item order.
        device: as in ``BaseTrainConfig``.
        progress: show a tqdm progress bar.
        stop_when_empty: end training after an epoch whose mask keeps no weight (a failing
            rung of a lambda ladder then costs little); not in the paper, off by default.
        stall_min_drop: with a value (e.g. 0.02), a mask whose training cross-entropy has
            fallen by less than this fraction of its first epoch's by half-time
            (``stall_epoch``) stops there and is marked ``stalled``: a rung that makes no
            progress fails without its second half. None (the default, the paper's): off.
    """

    epochs: int = 90
    batch_size: int = 64
    lr: float = 1e-2
    l0_lambda: float = 1e-8
    max_temperature: float = 200.0
    anneal: str = "epoch"
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    stop_when_empty: bool = False
    stall_min_drop: float | None = key_neutral(None)

    def __post_init__(self) -> None:
        check_training_args(self.epochs, self.batch_size, self.lr, self.device)
        if self.l0_lambda < 0:
            raise ValueError(f"l0_lambda must be >= 0, got {self.l0_lambda!r}")
        if self.stall_min_drop is not None and not 0 <= self.stall_min_drop < 1:
            raise ValueError(
                f"stall_min_drop must be None (off) or in [0, 1), got {self.stall_min_drop!r}"
            )
        if not self.max_temperature >= 1:
            raise ValueError(f"max_temperature must be >= 1, got {self.max_temperature!r}")
        if self.anneal not in ANNEALS:
            raise ValueError(f"unknown anneal {self.anneal!r}; choose one of: {', '.join(ANNEALS)}")

    @property
    def stall_epoch(self) -> int | None:
        """After how many epochs ``stall_min_drop`` is checked: half of them, at least 2;
        None when off or when that leaves nothing to save.

        >>> MaskTrainConfig(epochs=5, stall_min_drop=0.02).stall_epoch, MaskTrainConfig(epochs=2).stall_epoch
        (3, None)
        """
        if self.stall_min_drop is None:
            return None
        at = max(2, math.ceil(self.epochs / 2))
        return at if at < self.epochs else None

    def temperature(self, epoch: int, step: int = 0, steps_per_epoch: int = 1) -> float:
        """The temperature used at ``step`` (0-based, within ``epoch``): 1 at the start.

        >>> cfg = MaskTrainConfig(epochs=2, max_temperature=100.0)
        >>> cfg.temperature(0), cfg.temperature(1)
        (1.0, 10.0)
        >>> MaskTrainConfig(epochs=2, max_temperature=100.0, anneal="step").temperature(0, 1, 2)
        3.1622776601683795
        """
        if self.anneal == "epoch":
            progress = epoch / self.epochs
        else:
            progress = (epoch * steps_per_epoch + step) / (self.epochs * steps_per_epoch)
        return float(self.max_temperature**progress)


def loss_and_accuracy(
    model: nn.Module, dataset: Dataset, batch_size: int = 256
) -> tuple[float, float]:
    """(mean cross-entropy loss, accuracy) over the dataset in its stored order, in eval mode."""
    device, total, correct, n = device_of(model), 0.0, 0, 0
    with training_mode(model, False), torch.no_grad():
        for items, odd, _ in problem_loader(dataset, batch_size, None):
            scores = model(to_device(items, device)).float().cpu()
            total += F.cross_entropy(scores, odd, reduction="sum").item()
            correct += (scores.argmax(-1) == odd).sum().item()
            n += len(odd)
    return total / n, correct / n


def _adam(model: nn.Module, config: BaseTrainConfig, total_steps: int) -> tuple[Any, Any]:
    """Adam on every parameter, with ``config.schedule`` over ``total_steps`` (or none)."""
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if config.schedule == "onecycle":
        return opt, torch.optim.lr_scheduler.OneCycleLR(opt, config.lr, total_steps=total_steps)
    if config.schedule == "cosine":
        return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
    return opt, None


class _EarlyStopping:
    """Validation after every epoch; remembers the weights of the lowest validation loss."""

    def __init__(self, val: Dataset, patience: int | None) -> None:
        self.val, self.patience, self.bad_epochs, self.stopped = val, patience, 0, False
        self.best_loss, self.best_epoch, self.best_state = math.inf, None, None

    def stop_after(self, model: nn.Module, epoch: int, history: dict[str, Any]) -> bool:
        """Validate after ``epoch`` (into ``history``); ``True``: patience has run out."""
        val_loss, val_acc = loss_and_accuracy(model, self.val)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        if val_loss < self.best_loss:
            self.best_loss, self.best_epoch, self.bad_epochs = val_loss, epoch, 0
            self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.bad_epochs += 1
        self.stopped = self.patience is not None and self.bad_epochs >= self.patience
        return self.stopped


def train_base(
    model: nn.Module,
    dataset: Dataset,
    config: BaseTrainConfig,
    val: Dataset | None = None,
    augment: Callable[[Any, torch.Generator], Any] | None = None,
    after_step: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Train every parameter of ``model`` with Adam on odd-one-out problems.

    Args:
        model: maps a batch of items (B, 4, ...) to scores (B, 4); moved to the device.
        dataset: training problems.
        config: see ``BaseTrainConfig``.
        val: validation problems; with it, early stopping on the validation loss and the
            best epoch's weights restored at the end.
        augment: ``augment(items, generator) -> items`` applied to every training batch
            (after the item order is shuffled), with a generator seeded from the config.
        after_step: called after every optimiser step with the step's 0-based index
            (``sclib.sparsity.Sparsifier``: weight-sparse training).

    Returns:
        A history: per epoch ``epoch``, ``train_loss``, ``lr`` and, with ``val``,
        ``val_loss`` and ``val_acc``; and ``steps``, ``best_epoch``, ``stopped_early``.
    """
    device = resolve_device(config.device)
    model.to(device)
    g_loader, g_order, g_augment, _ = random_streams(config.seed)
    loader = problem_loader(dataset, config.batch_size, g_loader)
    total = config.epochs * len(loader)
    total = min(total, config.max_steps) if config.max_steps is not None else total
    opt, sched = _adam(model, config, total)
    if after_step is not None:
        step_index = itertools.count()
        opt.register_step_post_hook(lambda *_: after_step(next(step_index)))

    def batch_losses(epoch: int, i: int, items: Any, odd: torch.Tensor) -> dict[str, Any]:
        if augment is not None:
            items = augment(items, g_augment)
        return {"loss": F.cross_entropy(model(to_device(items, device)), odd.to(device))}

    history: dict[str, Any] = {"epoch": [], "train_loss": [], "lr": []}
    history.update({} if val is None else {"val_loss": [], "val_acc": []})
    stopping = _EarlyStopping(val, config.patience)
    bar = tqdm(total=total, desc="base", disable=not config.progress, leave=False)
    steps = Steps(loader, g_order, opt, sched, total, bar)
    with bar, seeded(torch_seed(config.seed), device), training_mode(model, True):
        for epoch in range(config.epochs):
            history["train_loss"].append(steps.epoch(epoch, batch_losses)["loss"])
            history["epoch"].append(epoch)
            history["lr"].append(opt.param_groups[0]["lr"])
            if (val is not None and stopping.stop_after(model, epoch, history)) or steps.done:
                break
    if stopping.best_state is not None:
        model.load_state_dict(stopping.best_state)
    history.update(
        steps=steps.count, best_epoch=stopping.best_epoch, stopped_early=stopping.stopped
    )
    return history


@contextmanager
def _frozen_base(model: nn.Module, masks: Any) -> Iterator[None]:
    """Freeze all of the model but the mask logits for the block: ``requires_grad`` off (on
    again after) and BatchNorm in eval mode, so that its running statistics stay put (use
    inside ``training_mode``, which restores the modes)."""
    logit_ids = {id(p) for p in masks.parameters()}
    frozen = [p for p in model.parameters() if id(p) not in logit_ids and p.requires_grad]
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    try:
        for p in frozen:
            p.requires_grad_(False)
        yield
    finally:
        for p in frozen:
            p.requires_grad_(True)


def train_mask(
    model: nn.Module,
    masks: Any,
    dataset: Dataset,
    config: MaskTrainConfig,
    val: Dataset | None = None,
) -> dict[str, Any]:
    """Train the mask logits of ``masks`` (an ``sclib.masks.MaskSet`` on ``model``).

    Adam on ``masks.parameters()`` only; the loss is cross-entropy plus
    ``config.l0_lambda * masks.l0()``; the model runs in train mode (soft masks) and the
    temperature rises from 1 to ``config.max_temperature`` (``config.anneal``); BatchNorm
    layers stay in eval mode so their running statistics are not changed. As in the
    paper, the mask of the last epoch is kept (no early stopping). The model's other
    parameters are not touched: their ``requires_grad`` is switched off while training
    and restored after, as is the model's train/eval mode. At the end the temperature is
    ``config.max_temperature``.

    With ``config.stop_when_empty``, training ends after the first epoch whose mask keeps
    no weight (``stopped_early`` in the history). With ``config.stall_min_drop``, it ends
    at ``config.stall_epoch`` when the epoch's mean cross-entropy is not below the first
    epoch's by that fraction (``stalled`` True in the history, present only then).

    Returns:
        A history with per-epoch ``epoch``, ``temperature`` (at the epoch's end),
        ``loss``, ``ce``, ``l0`` (training means), ``kept_fraction`` (logits > 0 after the
        epoch) and, with ``val``, ``val_acc`` (eval mode: the binary mask); ``steps`` and
        ``stopped_early`` (whether an emptied mask ended training before the last epoch).
    """
    device = resolve_device(config.device)
    model.to(device)
    g_loader, g_order, _, _ = random_streams(config.seed)
    loader = problem_loader(dataset, config.batch_size, g_loader)
    opt = torch.optim.Adam(list(masks.parameters()), lr=config.lr)

    def batch_losses(epoch: int, i: int, items: Any, odd: torch.Tensor) -> dict[str, Any]:
        masks.temperature = config.temperature(epoch, i, len(loader))
        ce = F.cross_entropy(model(to_device(items, device)), odd.to(device))
        l0 = masks.l0()
        return {"loss": ce + config.l0_lambda * l0, "ce": ce, "l0": l0}

    names = ("epoch", "temperature", "loss", "ce", "l0", "kept_fraction")
    history: dict[str, Any] = {k: [] for k in names + ("val_acc",) * (val is not None)}
    total = config.epochs * len(loader)
    bar = tqdm(total=total, desc="mask", disable=not config.progress, leave=False)
    steps = Steps(loader, g_order, opt, None, total, bar)
    with bar, seeded(torch_seed(config.seed), device), training_mode(model, True):
        with _frozen_base(model, masks):
            for epoch in range(config.epochs):
                for key, value in steps.epoch(epoch, batch_losses).items():
                    history[key].append(value)
                history["epoch"].append(epoch)
                history["temperature"].append(masks.temperature)
                history["kept_fraction"].append(float(masks.kept_fraction()))
                if val is not None:
                    history["val_acc"].append(evaluate(model, val))
                if config.stop_when_empty and history["kept_fraction"][-1] == 0:
                    break
                if _stalled(history["ce"], config):
                    history["stalled"] = True
                    break
    masks.temperature = config.max_temperature
    history["steps"] = steps.count
    history["stopped_early"] = len(history["epoch"]) < config.epochs
    return history


def _stalled(ce: list[float], config: MaskTrainConfig) -> bool:
    """Whether a mask's training has made too little progress by ``config.stall_epoch``.

    >>> cfg = MaskTrainConfig(epochs=4, stall_min_drop=0.02)
    >>> _stalled([1.39, 1.38], cfg), _stalled([1.39, 0.9], cfg), _stalled([1.39], cfg)
    (True, False, False)
    """
    at = config.stall_epoch
    if at is None or len(ce) != at:
        return False
    return ce[-1] > ce[0] * (1 - config.stall_min_drop)


def predict(model: nn.Module, dataset: Dataset, batch_size: int = 256) -> torch.Tensor:
    """The position (0..3) the model picks as odd for every problem, in eval mode."""
    device, out = device_of(model), []
    # masks' parametrizations compute each masked weight once for all batches (cached)
    with training_mode(model, False), torch.inference_mode(), parametrize.cached():
        for items, _, _ in problem_loader(dataset, batch_size, None):
            out.append(model(to_device(items, device)).argmax(-1).cpu())
    return torch.cat(out)


def evaluate(model: nn.Module, dataset: Dataset, batch_size: int = 256) -> float:
    """Accuracy (fraction of problems whose odd item gets the top score), in eval mode.

    Runs under ``torch.inference_mode`` and restores the model's train/eval mode afterwards.
    """
    if hasattr(dataset, "odd_index"):
        odd = dataset.odd_index.long().cpu()
    else:
        odd = torch.as_tensor([int(dataset[i][1]) for i in range(len(dataset))])
    return int((predict(model, dataset, batch_size) == odd).sum()) / max(1, len(odd))


def evaluate_sets(
    model: nn.Module, datasets: Mapping[str, Dataset], batch_size: int = 256
) -> dict[str, float]:
    """``evaluate`` on several sets at once: name -> accuracy (``00_quickstart`` uses it)."""
    return {name: evaluate(model, ds, batch_size) for name, ds in datasets.items()}
