"""Scoped ablations of a MaskSet: inside ``with ablated(...)`` one set of masked weights is gone.

The vocabulary is NeuroSurgeon's (``ABLATION_MODES``): the subnetwork zeroed (``zero``) or
re-drawn (``random_reinit``), or a random set of its size zeroed anywhere
(``randomly_sampled``) or outside it (``complement_sampled``); in a weight-sparse model
"anywhere" means among the nonzero weights (``WeightMask.support``). Nothing is written
into the weights: the masks' gates are overridden (``sclib.masks.overridden``) and
restored on exit.
This module knows only PyTorch and ``sclib.masks``.

>>> import torch
>>> from torch import nn
>>> from sclib.masks import add_masks
>>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
>>> ms = add_masks(model, init=0.05)
>>> with ablated(ms, "zero"):  # every weight is kept, so ablation leaves only biases
...     out = model.eval()(torch.ones(1, 4))
>>> ms.remove()
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from sclib.masks import MaskSet, WeightMask, overridden

ABLATION_MODES = ("zero", "random_reinit", "randomly_sampled", "complement_sampled")
ABLATION_SEED_OFFSET = 0x5C1_AB1A7E  # see ablated()


def _ablation_override(
    mask: WeightMask, mode: str, gen: torch.Generator
) -> tuple[Tensor, Tensor | None]:
    kept = mask.kept()
    dtype, device = mask.logits.dtype, kept.device
    if mode == "zero":
        return (~kept).to(dtype), None
    if mode == "random_reinit":  # nn.Linear/Conv reset_parameters: U(-1/sqrt(fan_in), ...)
        bound = 1 / math.sqrt(mask.fan_in) if mask.fan_in > 0 else 0.0
        fresh = (torch.rand(kept.shape, generator=gen, dtype=dtype) * 2 - 1) * bound
        return (~kept).to(dtype), fresh.to(device) * kept
    flat = kept.flatten().cpu()
    k = int(flat.sum())
    # the positions a same-size set is drawn from: the nonzero (existing) weights only
    support = None if mask.support is None else mask.support.flatten().cpu()
    if mode == "randomly_sampled":
        places = torch.arange(flat.numel()) if support is None else support.nonzero().squeeze(1)
    else:  # complement_sampled
        places = (~flat if support is None else ~flat & support).nonzero().squeeze(1)
    drop = places[torch.randperm(places.numel(), generator=gen)[:k]]
    gate = torch.ones(flat.numel(), dtype=dtype)
    gate[drop] = 0.0
    return gate.view(kept.shape).to(device), None


def check_complement(ms: MaskSet) -> None:
    """Raise ValueError if a layer keeps more than half its nonzero (existing) weights
    (``WeightMask.size``): its complement is then smaller than the subnetwork, so no
    same-size set outside it exists (NeuroSurgeon raises here too; zeroing the whole
    complement would leave the subnetwork alone).

    >>> from torch import nn
    >>> from sclib.masks import add_masks
    >>> ms = add_masks(nn.Sequential(nn.Linear(2, 2)), init=0.05)
    >>> check_complement(ms)
    Traceback (most recent call last):
    ...
    ValueError: complement_sampled needs a complement at least as large as the subnetwork in every layer, but the complement is smaller than the subnetwork in: 0.weight (kept 1.000); use a sparser mask or another ablation mode
    """
    kept_counts = {n: (int(m.kept().sum()), m.size()) for n, m in ms.items()}
    big = {n: k / total for n, (k, total) in kept_counts.items() if 2 * k > total}
    if big:
        kept = ", ".join(f"{n} (kept {f:.3f})" for n, f in big.items())
        raise ValueError(
            "complement_sampled needs a complement at least as large as the subnetwork in "
            f"every layer, but the complement is smaller than the subnetwork in: {kept}; "
            "use a sparser mask or another ablation mode"
        )


@contextmanager
def ablated(ms: MaskSet, mode: str, seed: int = 0) -> Iterator[nn.Module]:
    """Inside: the full (unmasked) model with one set of masked-layer weights removed.

    Nothing is written into the weights: the masks' gates are overridden, and restored on
    exit (also on an exception). Layers without a mask are untouched.

    Args:
        ms: the masks; the subnetwork is ``ms.kept()`` (logits > 0).
        mode: "zero" (subnetwork weights set to 0), "random_reinit" (subnetwork weights
            re-drawn Kaiming-uniform, as nn.Linear/Conv initialise them), "randomly_sampled"
            (zero a random set of the subnetwork's size per layer, anywhere among the
            nonzero weights), "complement_sampled" (zero a random same-size set of nonzero
            weights outside the subnetwork per layer; raises ValueError where a layer keeps
            more than half its nonzero weights, see ``check_complement``).
        seed: seeds the torch.Generator of every random choice (offset by a constant, so
            that seed 0 does not replay the stream of ``torch.manual_seed(0)`` that may
            have initialised the model: ``random_reinit`` would redraw the same weights).

    Yields:
        ``ms.model``.
    """
    if mode not in ABLATION_MODES:
        raise ValueError(
            f"unknown ablation mode {mode!r}; choose one of: {', '.join(ABLATION_MODES)}"
        )
    if isinstance(seed, bool) or not hasattr(seed, "__index__") or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if mode == "complement_sampled":
        check_complement(ms)
    gen = torch.Generator().manual_seed(ABLATION_SEED_OFFSET + seed)
    overrides = {name: _ablation_override(mask, mode, gen) for name, mask in ms.items()}
    with overridden(ms, overrides):
        yield ms.model
