"""A small MLP odd-one-out model for the toy task (``notebooks/00_quickstart.ipynb``).

>>> model = toy_mlp(16, hidden=(8, 8), out_dim=4)
>>> model(torch.zeros(2, 4, 16)).shape
torch.Size([2, 4])
>>> [name for name, _ in model.embedder.named_children()]
['fc1', 'act1', 'fc2', 'act2', 'out']
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from sclib.models.head import OddOneOut


def toy_mlp(
    in_dim: int, hidden: int | Sequence[int] = (32, 32), out_dim: int = 8, seed: int = 0
) -> OddOneOut:
    """An MLP embedder (Linear + ReLU per hidden layer, then a Linear) in the odd-one-out head.

    Args:
        in_dim: item length (``ToyTask.dim``).
        hidden: width of each hidden layer; an int means one hidden layer.
        out_dim: embedding size.
        seed: initialises the weights (PyTorch's default init); the global RNG is untouched.

    Layers are named ``fc1, fc2, ...`` and ``out`` (so ``model.embedder.fc1``), the names
    masks and statistics refer to.
    """
    widths = [hidden] if isinstance(hidden, int) else list(hidden)
    if in_dim < 1 or out_dim < 1 or any(w < 1 for w in widths):
        raise ValueError(
            f"in_dim, out_dim and hidden widths must be positive, got {in_dim}, {out_dim}, {widths}"
        )
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        d = in_dim
        for i, w in enumerate(widths, start=1):
            layers[f"fc{i}"] = nn.Linear(d, w)
            layers[f"act{i}"] = nn.ReLU()
            d = w
        layers["out"] = nn.Linear(d, out_dim)
    return OddOneOut(nn.Sequential(layers))
