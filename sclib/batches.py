"""Batches of odd-one-out problems for ``sclib.train``: the loader, the item shuffle, the
random streams a training seed splits into, and the optimiser steps over the batches.

Every random choice of a training run comes from its seed, one stream per choice
(``random_streams``): the batch order (``STREAM_LOADER``), the item order within each
problem (``STREAM_ORDER``), augmentation (``STREAM_AUGMENT``) and the torch seed of the
model's own randomness (``STREAM_TORCH``, ``torch_seed``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from sclib.tasks.base import collate_problems

# one stream per random choice, all derived from config.seed
STREAM_LOADER, STREAM_ORDER, STREAM_AUGMENT, STREAM_TORCH = 0, 1, 2, 3
N_STREAMS = 4


def shuffle_items(
    items: Any, odd_index: torch.Tensor, generator: torch.Generator
) -> tuple[Any, torch.Tensor]:
    """Permute the 4 items of every problem at random; the odd index follows its item.

    Works on tensors (B, 4, ...) and on B lists of 4 strings.

    >>> items = torch.arange(8).reshape(2, 4)
    >>> new, odd = shuffle_items(items, torch.tensor([0, 3]), torch.Generator().manual_seed(0))
    >>> new[torch.arange(2), odd].tolist()
    [0, 7]
    """
    b = odd_index.shape[0]
    k = items.shape[1] if isinstance(items, torch.Tensor) else len(items[0])
    perm = torch.rand(b, k, generator=generator).argsort(dim=1)  # new position j <- old perm[j]
    new_odd = (perm == odd_index[:, None]).long().argmax(dim=1)
    if isinstance(items, torch.Tensor):
        index = perm.to(items.device).reshape(b, k, *([1] * (items.dim() - 2)))
        return items.gather(1, index.expand_as(items)), new_odd
    return [[row[j] for j in p] for row, p in zip(items, perm.tolist(), strict=True)], new_odd


def to_device(items: Any, device: torch.device) -> Any:
    """A batch's items on ``device``: tensors moved, lists of strings as they are."""
    return items.to(device) if isinstance(items, torch.Tensor) else items


def random_streams(seed: int) -> list[torch.Generator]:
    """The generators of a training seed, indexed by ``STREAM_*``.

    >>> len(random_streams(0))
    4
    """
    return [torch.Generator().manual_seed(seed * N_STREAMS + i) for i in range(N_STREAMS)]


def torch_seed(seed: int) -> int:
    """The torch seed of a training seed's ``STREAM_TORCH`` (anything random in the model).

    >>> torch_seed(1)
    7
    """
    return seed * N_STREAMS + STREAM_TORCH


def problem_loader(
    dataset: Dataset, batch_size: int, generator: torch.Generator | None
) -> DataLoader:
    """Batches ``(items, odd_index, meta)`` of ``dataset``; shuffled by ``generator``, in the
    stored order when it is None."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=generator is not None,
        generator=generator,
        collate_fn=collate_problems,
    )


BatchLosses = Callable[[int, int, Any, torch.Tensor], dict[str, torch.Tensor]]


@dataclass
class Steps:
    """The optimiser steps of ``train_base`` and ``train_mask``, epoch by epoch.

    Every batch of ``loader`` has its items shuffled (``g_order``), then
    ``batch_losses(epoch, i, items, odd)`` gives named losses and the optimiser (and
    ``sched``) steps on ``"loss"``, until ``total`` steps are done.
    """

    loader: DataLoader
    g_order: torch.Generator
    opt: torch.optim.Optimizer
    sched: Any
    total: int
    bar: tqdm
    count: int = 0

    def epoch(self, epoch: int, batch_losses: BatchLosses) -> dict[str, float]:
        """One pass (or what is left of ``total``); the per-problem mean of every loss."""
        sums: dict[str, float] = {}
        n = 0
        for i, (items, odd, _) in enumerate(self.loader):
            items, odd = shuffle_items(items, odd, self.g_order)
            losses = batch_losses(epoch, i, items, odd)
            self.opt.zero_grad(set_to_none=True)
            losses["loss"].backward()
            self.opt.step()
            if self.sched is not None:
                self.sched.step()
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + value.item() * len(odd)
            n, self.count = n + len(odd), self.count + 1
            self.bar.update()
            self.bar.set_postfix(epoch=epoch, **{k: f"{v.item():.3f}" for k, v in losses.items()})
            if self.done:
                break
        return {key: value / n for key, value in sums.items()}

    @property
    def done(self) -> bool:
        return self.count >= self.total
