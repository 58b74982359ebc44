"""The one pretraining loop that SimCLR and MLM share, and its optimiser.

``run_pretraining`` knows no model and no loss: it draws a fresh order of the examples
every epoch, hands each batch of row indices to a ``step`` function that returns the
loss, and steps the optimiser that ``make_optimizer`` built for the whole run
(``cosine_adamw`` for both ``sclib.pretrain.simclr`` and ``sclib.pretrain.mlm``).

>>> weight = torch.nn.Parameter(torch.zeros(()))
>>> def step(rows):
...     loss = (weight - 1.0) ** 2
...     return loss, -loss.item()
>>> from types import SimpleNamespace
>>> config = SimpleNamespace(epochs=2, max_steps=None, progress=False)
>>> history = run_pretraining(
...     step, lambda total: cosine_adamw([weight], 0.1, 0.0, total), config,
...     n=4, batch=2, drop_last=True, g_order=torch.Generator().manual_seed(0),
...     metric="score", desc="demo")
>>> history["steps"], history["epoch"], sorted(history)
(4, [0, 1], ['epoch', 'loss', 'lr', 'score', 'steps'])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import torch
from tqdm.auto import tqdm


class LoopConfig(Protocol):
    """What ``run_pretraining`` reads of a config (``SimCLRConfig`` and ``MLMConfig`` have it)."""

    @property
    def epochs(self) -> int: ...
    @property
    def max_steps(self) -> int | None: ...
    @property
    def progress(self) -> bool: ...


def cosine_adamw(
    params: Iterable[torch.nn.Parameter],
    lr: float,
    weight_decay: float,
    total_steps: int,
    min_lr_ratio: float = 0.0,
    warmup_steps: int = 0,
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW with a linear warm-up over ``warmup_steps``, then cosine decay to
    ``lr * min_lr_ratio`` at ``total_steps``.

    >>> opt, sched = cosine_adamw([torch.nn.Parameter(torch.zeros(1))], 1.0, 0.0, 4, 0.5)
    >>> [round(sched.lr_lambdas[0](s), 3) for s in range(5)]
    [1.0, 0.927, 0.75, 0.573, 0.5]
    >>> _, warm = cosine_adamw([torch.nn.Parameter(torch.zeros(1))], 1.0, 0.0, 4, warmup_steps=2)
    >>> [round(warm.lr_lambdas[0](s), 3) for s in range(5)]
    [0.5, 1.0, 1.0, 0.5, 0.0]
    """

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


def run_pretraining(
    step: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | float]],
    make_optimizer: Callable[[int], tuple[torch.optim.Optimizer, Any]],
    config: LoopConfig,
    *,
    n: int,
    batch: int,
    drop_last: bool,
    g_order: torch.Generator,
    metric: str,
    desc: str,
) -> dict[str, Any]:
    """The loop SimCLR and MLM pretraining share.

    ``config.epochs`` passes over the ``n`` examples in batches of ``batch`` (the last
    partial batch dropped with ``drop_last``), at most ``config.max_steps`` steps; the
    optimiser and schedule come from ``make_optimizer(total_steps)``. Each epoch draws a
    fresh order from ``g_order``; ``step(rows)`` takes a batch of row indices and returns
    ``(loss, metric value)``. Returns a history with per-epoch ``epoch``, ``loss``,
    ``metric`` and ``lr`` (training means), and ``steps``.
    """
    per_epoch = n // batch if drop_last else math.ceil(n / batch)
    total = config.epochs * per_epoch
    total = min(total, config.max_steps) if config.max_steps is not None else total
    opt, sched = make_optimizer(total)
    history: dict[str, Any] = {"epoch": [], "loss": [], metric: [], "lr": []}
    steps = 0
    bar = tqdm(total=total, desc=desc, disable=not config.progress, leave=False)
    try:
        for epoch in range(config.epochs):
            order = torch.randperm(n, generator=g_order)
            sums, count = [0.0, 0.0], 0
            for i in range(per_epoch):
                loss, value = step(order[i * batch : (i + 1) * batch])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                sums[0] += loss.item()
                sums[1] += float(value)
                count, steps = count + 1, steps + 1
                bar.update()
                bar.set_postfix(epoch=epoch, loss=f"{loss.item():.3f}")
                if steps >= total:
                    break
            history["epoch"].append(epoch)
            history["loss"].append(sums[0] / count)
            history[metric].append(sums[1] / count)
            history["lr"].append(opt.param_groups[0]["lr"])
            if steps >= total:
                break
    finally:
        bar.close()
    history["steps"] = steps
    return history
