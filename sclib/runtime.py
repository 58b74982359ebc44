"""Where and how PyTorch runs a computation: the device, a seeded RNG, train or eval mode.

Knows only PyTorch. ``sclib.train``, ``sclib.pretrain`` and ``sclib.experiments`` share
these, so that every training run leaves the caller's RNG and the model's modes as they
were.

>>> net = torch.nn.Sequential(torch.nn.Dropout()).eval()
>>> before = torch.get_rng_state()
>>> with training_mode(net, True), seeded(0):
...     drawn = torch.rand(3)
...     net[0].training
True
>>> net[0].training, torch.equal(torch.get_rng_state(), before)
(False, True)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def device_of(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a model without parameters)."""
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@contextmanager
def seeded(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Seed PyTorch's global RNG (dropout, initialisation, ...) for the block, then restore
    it; with a CUDA ``device``, that device's RNG too."""
    devices = [device.index or 0] if device is not None and device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@contextmanager
def training_mode(model: nn.Module, training: bool) -> Iterator[None]:
    """Put the model in train (``True``) or eval mode for the block, then restore the old
    mode of every submodule."""
    old = {m: m.training for m in model.modules()}
    model.train(training)
    try:
        yield
    finally:
        for m, t in old.items():
            m.training = t
