"""The odd-one-out head shared by every model (arXiv 2301.10884, its task format).

Each of the 4 items is embedded and L2-normalised; item i scores -sum_j <e_i, e_j>,
and cross-entropy over the 4 scores trains the model to pick the odd one.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def odd_one_out_scores(embeddings: torch.Tensor) -> torch.Tensor:
    """Scores (B, 4) from embeddings (B, 4, D): minus each item's summed similarity.

    >>> e = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]])
    >>> odd_one_out_scores(e).argmax(-1).item()
    3
    """
    e = F.normalize(embeddings, dim=-1)
    return -(e @ e.transpose(1, 2)).sum(-1)


def flatten_items(items: Any) -> tuple[Any, int, int]:
    """(B, 4, ...) tensor or B lists of 4 strings -> (B*4 items, B, 4)."""
    if isinstance(items, torch.Tensor):
        b, k = items.shape[:2]
        return items.reshape(b * k, *items.shape[2:]), b, k
    b, k = len(items), len(items[0])
    return [s for problem in items for s in problem], b, k


class OddOneOut(nn.Module):
    """An embedder (anything mapping a flat batch of items to (N, D)) as an odd-one-out model.

    ``model(items)`` returns scores (B, 4); ``model.embedder`` is the backbone plus any
    projection head, the part masks are put on.
    """

    def __init__(self, embedder: nn.Module) -> None:
        super().__init__()
        self.embedder = embedder

    def forward(self, items: Any) -> torch.Tensor:
        flat, b, k = flatten_items(items)
        return odd_one_out_scores(self.embedder(flat).reshape(b, k, -1))
