"""Where a model's odd-one-out signal lives: with its subnetwork, without it, with neither.

Made to look inside a puzzling control: removing the subnetwork found in a never-trained
language model *makes* the model solve that subroutine (ablation score about +0.75, as in
the paper). ``odd_signal`` measures, per condition, how far the odd item's embedding lies
from the regular items' (before the head normalises them), so one can see whether the
subnetwork and the rest of the weights carry the signal, and whether the full model does.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F

from sclib.masks import MaskSet, ablated, overridden
from sclib.models.head import flatten_items
from sclib.runtime import training_mode

CONDITIONS = ("full", "subnetwork", "rest", "none")


@contextmanager
def _condition(masks: MaskSet, name: str):
    """The masked model as ``name``: the full model, the subnetwork alone, the rest alone
    (the subnetwork zero-ablated), or none of the masked weights."""
    if name == "full":
        with masks.disabled():
            yield
    elif name == "subnetwork":
        yield
    elif name == "rest":
        with ablated(masks, "zero"):
            yield
    elif name == "none":
        with overridden(masks, {n: (torch.zeros(()), None) for n in masks}):
            yield
    else:
        raise ValueError(f"unknown condition {name!r}; choose one of: {', '.join(CONDITIONS)}")


def _embeddings(model: Any, problems: Any, batch: int) -> torch.Tensor:
    out = []
    for start in range(0, len(problems), batch):
        flat, b, k = flatten_items(problems.items[start : start + batch])
        out.append(model.embedder(flat).reshape(b, k, -1))
    return torch.cat(out)


def odd_signal(model: Any, masks: MaskSet, problems: Any, batch: int = 64) -> pd.DataFrame:
    """The odd-one-out signal of ``model``'s embeddings on ``problems``, per condition.

    A problem's *signal* is the embedding of its odd item minus the mean embedding of its
    three regular ones. One row per condition (``CONDITIONS``: full model, subnetwork
    alone, rest alone, none of the masked weights), with medians over problems of: the
    signal's norm (``signal``), the same relative to the embeddings' mean norm
    (``relative_signal``, what the normalising head sees), and the cosine between this
    condition's signal and the subnetwork's (``cos_to_subnetwork``). The model runs in eval
    mode (binary masks); its mode is restored.
    """
    odd = torch.as_tensor(problems.odd_index)
    rows, signals = [], {}
    with torch.no_grad(), training_mode(model, False):
        for name in CONDITIONS:
            with _condition(masks, name):
                e = _embeddings(model, problems, batch)
            picked = e[torch.arange(len(odd)), odd]
            signal = picked - (e.sum(1) - picked) / (e.shape[1] - 1)
            signals[name] = signal
            size = e.norm(dim=2).mean(1).clamp_min(1e-12)
            rows.append(
                {
                    "condition": name,
                    "signal": signal.norm(dim=1).median().item(),
                    "relative_signal": (signal.norm(dim=1) / size).median().item(),
                }
            )
    for row in rows:
        cos = F.cosine_similarity(signals[row["condition"]], signals["subnetwork"], dim=1)
        row["cos_to_subnetwork"] = cos.median().item()
    return pd.DataFrame(rows)
