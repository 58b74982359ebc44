"""Weight-sparse base training: keep the largest weights of each tensor, zero the rest.

Gao et al. 2025 ("Weight-sparse transformers have interpretable circuits", arXiv
2511.13653) train models whose weights are mostly zero, so that the circuits found in
them are small. What we follow, as issue #16 reads their method: after every optimiser
step each weight matrix keeps only its ``k`` largest-magnitude entries and the rest are
set to zero (a top-k projection per matrix), with ``k`` annealed linearly from dense to
the target over the first half of training (``density_at``). That schedule is taken
from the issue's reading of the paper; it has not been checked against the paper's
text here.

Where we differ: only the weight tensors of one masked region (those ``add_masks``
would mask there: Linear, Conv, HF Conv1D, attention input projections) are sparsified;
biases, norms and embeddings stay dense. Adam's state of a zeroed weight is kept, so a
weight may grow back into the top ``k`` at a later step. Nothing else of theirs is
taken (no architecture changes). With early stopping, ``sclib.train.train_base``
restores its best epoch's weights, which may predate the end of the schedule: measure
the density of the result (``weight_density``) rather than assume it.

This module knows only PyTorch and ``sclib.masks`` (which weights are maskable).

>>> import torch
>>> from torch import nn
>>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
>>> keep_top_k_([model[0].weight], 0.25)
>>> int((model[0].weight != 0).sum()), weight_density(model, "0")
(8, 0.25)
>>> [density_at(step, 10, 0.5) for step in (0, 1, 4, 5, 9)]  # 10 steps, target 0.5
[1.0, 0.9, 0.6, 0.5, 0.5]
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from sclib.masks import Include, maskable_weights


def _check_density(density: float) -> None:
    if isinstance(density, bool) or not isinstance(density, int | float) or not 0 < density <= 1:
        raise ValueError(f"density must be in (0, 1] (1 = dense), got {density!r}")


def density_at(step: int, total_steps: int, density: float, anneal_fraction: float = 0.5) -> float:
    """The fraction of each weight tensor kept after ``step`` of ``total_steps``.

    1.0 at step 0, falling linearly to ``density`` at ``anneal_fraction * total_steps``,
    then constant (also past ``total_steps``).

    Args:
        step: steps taken so far (>= 0).
        total_steps: steps of the whole training run (>= 1).
        density: the target fraction kept, in (0, 1].
        anneal_fraction: part of training over which the density falls, in (0, 1]
            (Gao et al. 2025 as the issue reads them: the first half).
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be an int >= 0, got {step!r}")
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
        raise ValueError(f"total_steps must be an int >= 1, got {total_steps!r}")
    _check_density(density)
    if not 0 < anneal_fraction <= 1:
        raise ValueError(f"anneal_fraction must be in (0, 1], got {anneal_fraction!r}")
    end = anneal_fraction * total_steps
    if step >= end:
        return float(density)
    return 1.0 - (1.0 - density) * step / end


def keep_top_k_(weights: Iterable[Tensor], density: float) -> None:
    """In place: keep the ``max(1, round(density * numel))`` largest ``|w|`` of each tensor
    and set the others to zero. ``density`` 1 changes nothing.

    Ties are broken by ``torch.topk`` (deterministic on the same device).
    """
    _check_density(density)
    with torch.no_grad():
        for w in weights:
            k = max(1, round(density * w.numel()))
            if k >= w.numel():
                continue
            keep = torch.zeros(w.numel(), dtype=torch.bool, device=w.device)
            keep[w.detach().abs().flatten().topk(k, sorted=False).indices] = True
            w.masked_fill_(~keep.view(w.shape), 0.0)


def weight_density(model: nn.Module, include: Include = None) -> float:
    """The nonzero fraction of the weights ``add_masks(model, include)`` would mask."""
    tensors = [w for _, w in maskable_weights(model, include)]
    nonzero = sum(int(torch.count_nonzero(w)) for w in tensors)
    return nonzero / max(1, sum(w.numel() for w in tensors))


class Sparsifier:
    """``after_step`` for ``sclib.train.train_base``: after step ``i`` (0-based), every
    selected weight tensor keeps its top ``density_at(i + 1, total_steps, density)``.

    The tensors are looked up once, here (``model.to(device)`` keeps them the same
    parameters).

    Args:
        model: the model being trained.
        include: which weights, as ``sclib.masks.add_masks`` takes it (a masked region).
        density: the target nonzero fraction of each selected tensor, in (0, 1].
        total_steps: optimiser steps of the training run.
        anneal_fraction: see ``density_at``.
    """

    def __init__(
        self,
        model: nn.Module,
        include: Include,
        density: float,
        total_steps: int,
        anneal_fraction: float = 0.5,
    ) -> None:
        density_at(0, total_steps, density, anneal_fraction)  # check the arguments
        self.weights = [w for _, w in maskable_weights(model, include)]
        self.density, self.total_steps = density, total_steps
        self.anneal_fraction = anneal_fraction

    def __call__(self, step: int) -> None:
        d = density_at(step + 1, self.total_steps, self.density, self.anneal_fraction)
        keep_top_k_(self.weights, d)
