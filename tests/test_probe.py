"""sclib.experiments.probe on a hand-made model whose answer is known."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sclib.experiments.probe import CONDITIONS, odd_signal, probed_as
from sclib.masks import add_masks
from sclib.models.head import OddOneOut
from sclib.tasks.base import ProblemSet


def problems(n: int = 5) -> ProblemSet:
    """Items (n, 4, 3): all equal but the odd one, which is 2 higher in coordinate 0."""
    items = torch.zeros(n, 4, 3)
    odd = torch.arange(n) % 4
    items[torch.arange(n), odd, 0] = 2.0
    return ProblemSet(items, odd, [{"breaks": ("a",)}] * n, {})


def masked_identity():
    """Embedder = identity plus bias 1; the subnetwork keeps only W[0, 0]."""
    linear = nn.Linear(3, 3)
    with torch.no_grad():
        linear.weight.copy_(torch.eye(3))
        linear.bias.fill_(1.0)
    model = OddOneOut(linear)
    masks = add_masks(model)
    with torch.no_grad():
        masks["embedder.weight"].logits.fill_(-1.0)
        masks["embedder.weight"].logits[0, 0] = 1.0
    return model, masks


def test_signal_follows_the_weights_that_carry_it():
    model, masks = masked_identity()
    table = odd_signal(model, masks, problems(), batch=2).set_index("condition")
    assert list(table.index) == list(CONDITIONS)
    # the odd item is 2 higher in the coordinate that W[0, 0] passes on, the regulars equal
    assert table.loc["full", "signal"] == pytest.approx(2.0)
    assert table.loc["subnetwork", "signal"] == pytest.approx(2.0)
    assert table.loc["rest", "signal"] == pytest.approx(0.0)
    assert table.loc["none", "signal"] == pytest.approx(0.0)
    assert table.loc["full", "cos_to_subnetwork"] == pytest.approx(1.0)
    assert table.loc["rest", "relative_signal"] == pytest.approx(0.0)


def test_conditions_restore_the_model_and_reject_unknown_names():
    model, masks = masked_identity()
    x = torch.ones(1, 3)
    before = model.embedder(x).clone()
    with probed_as(masks, "none"):
        assert torch.equal(model.embedder(x), torch.ones(1, 3))  # the bias alone
    assert torch.equal(model.embedder(x), before)
    with pytest.raises(ValueError, match="choose one of: full, subnetwork, rest, none"):
        with probed_as(masks, "half"):
            pass
