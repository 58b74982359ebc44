"""Code exercises of ``notebooks/06_exercises.ipynb``, each checked against ``sclib.masks``.

The student writes a small function (the gated forward pass of a mask, the L0 term, a zero
ablation, a size-matched random ablation); ``check_*`` compares it with :mod:`sclib.masks`
on tiny tensors. A function that still raises ``NotImplementedError`` gets a hint, not a
failure, so the unfilled notebook runs; a wrong one fails an assert whose message says
what is wrong. ``accuracies_with`` then runs the student's ablation on the toy.

>>> check_zero_ablation(lambda weight, kept: weight * ~kept)
correct: matches ablated(masks, 'zero')
True
>>> def not_yet(weight, kept):
...     raise NotImplementedError
>>> check_zero_ablation(not_yet)
not done yet: set the weights where kept is True to 0; keep the others
False
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from sclib.ablation import ablated
from sclib.lab.toy import ToyRun
from sclib.masks import add_masks
from sclib.train import predict


def _attempt(fn: Callable, hint: str, *args: object) -> tuple[bool, object]:
    """(True, fn(*args)), or (False, None) with ``hint`` printed when ``fn`` is not written."""
    try:
        return True, fn(*args)
    except NotImplementedError:
        print(f"not done yet: {hint}")
        return False, None


def _tiny_linear(seed: int = 0) -> tuple[nn.Linear, Tensor]:
    """A 3x4 nn.Linear and mask logits in [-1, 1] with one exact 0 (kept only if > 0)."""
    gen = torch.Generator().manual_seed(seed)
    layer = nn.Linear(4, 3)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(3, 4, generator=gen))
    logits = torch.rand(3, 4, generator=gen) * 2 - 1
    logits[0, 0] = 0.0
    return layer, logits


def _reference_weight(layer: nn.Linear, logits: Tensor, beta: float, training: bool) -> Tensor:
    """What sclib.masks makes of ``layer.weight`` (a copy of the layer is masked)."""
    masks = add_masks(copy.deepcopy(layer), init=0.0)
    masks.load_state_dict({"weight": logits})
    masks.temperature = beta
    masks.model.train(training)
    return masks.model.weight.detach()


def check_masked_weight(fn: Callable[[Tensor, Tensor, float, bool], Tensor]) -> bool:
    """Check ``fn(weight, logits, beta, training)``, the weight a masked layer sees,
    against ``sclib.masks`` on a 3x4 layer; True when it agrees, False when not written."""
    layer, logits = _tiny_linear()
    weight, beta = layer.weight.detach().clone(), 3.0
    done, soft = _attempt(fn, "in training return weight * sigmoid(beta * logits), "
                          "in eval weight * (logits > 0)", weight, logits, beta, True)  # fmt: skip
    if not done:
        return False
    hard = fn(weight, logits, beta, False)
    want_soft, want_hard = (_reference_weight(layer, logits, beta, t) for t in (True, False))
    for name, got in (("training", soft), ("eval", hard)):
        assert isinstance(got, Tensor), f"{name}: return a tensor, not {type(got).__name__}"
        assert got.shape == weight.shape, (
            f"{name}: shape {tuple(got.shape)}, want {tuple(weight.shape)}"
        )
    assert not torch.allclose(soft, want_hard), (
        "training mode gives the binary mask: use sigmoid(beta * logits) there"
    )
    assert not torch.allclose(soft, weight * torch.sigmoid(logits)), (
        "training mode ignores beta: sigmoid(beta * logits)"
    )
    assert torch.allclose(soft, want_soft, atol=1e-6), (
        f"training mode: got\n{soft}\nwant\n{want_soft}"
    )
    assert not torch.allclose(hard, want_soft), (
        "eval mode gives soft gates: use the binary (logits > 0)"
    )
    assert hard[0, 0] == 0, (
        "eval mode keeps a weight whose logit is exactly 0: the rule is logits > 0"
    )
    assert torch.equal(hard, want_hard), f"eval mode: got\n{hard}\nwant\n{want_hard}"
    print("correct: training and eval weights match sclib.masks")
    return True


def check_l0_term(fn: Callable[[Tensor, float], Tensor]) -> bool:
    """Check ``fn(logits, beta)``, the L0 term, against ``MaskSet.l0()`` and its gradient;
    True when it agrees, False when not written."""
    layer, logits = _tiny_linear(1)
    beta = 2.0
    s = logits.clone().requires_grad_(True)
    done, got = _attempt(fn, "return the sum of sigmoid(beta * logits) over every entry", s, beta)
    if not done:
        return False
    masks = add_masks(copy.deepcopy(layer), init=0.0)
    masks.load_state_dict({"weight": logits})
    masks.temperature = beta
    want = masks.l0().detach()
    assert isinstance(got, Tensor), f"return a tensor (to backpropagate), not {type(got).__name__}"
    assert got.dim() == 0, (
        f"return one number (a 0-d tensor): the sum over all entries, got shape {tuple(got.shape)}"
    )
    assert got.requires_grad, (
        "the L0 term has no gradient: count softly with sigmoid, not with (logits > 0)"
    )
    assert not torch.isclose(got, torch.sigmoid(logits).sum()), (
        "beta is missing: sigmoid(beta * logits)"
    )
    assert torch.isclose(got.detach(), want, atol=1e-5), (
        f"got {float(got):.4f}, want {float(want):.4f}"
    )
    got.backward()
    gate = torch.sigmoid(beta * logits)
    assert torch.allclose(s.grad, beta * gate * (1 - gate), atol=1e-5), (
        "the gradient differs from beta * g * (1 - g)"
    )
    print(
        f"correct: L0 term {float(got.detach()):.4f} as MaskSet.l0(); its gradient pushes every logit down"
    )
    return True


def check_zero_ablation(fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Check ``fn(weight, kept)``, the weight with the subnetwork (``kept``, boolean)
    removed, against ``ablated(masks, "zero")``; True when it agrees, False when not written."""
    layer, logits = _tiny_linear(2)
    weight, kept = layer.weight.detach().clone(), logits > 0
    before = weight.clone()
    done, got = _attempt(
        fn, "set the weights where kept is True to 0; keep the others", weight, kept
    )
    if not done:
        return False
    masks = add_masks(copy.deepcopy(layer), init=0.0)
    masks.load_state_dict({"weight": logits})
    with ablated(masks, "zero") as model:
        want = model.weight.detach().clone()
    assert torch.equal(weight, before), (
        "your function changed its input in place: return a new tensor"
    )
    assert isinstance(got, Tensor) and got.shape == weight.shape, (
        "return a tensor shaped like weight"
    )
    assert not torch.equal(got, weight * kept), (
        "you kept the subnetwork and removed the rest: that is the subnetwork alone, not its ablation"
    )
    assert torch.equal(got, want), f"got\n{got}\nwant (subnetwork zeroed, the rest intact)\n{want}"
    print("correct: matches ablated(masks, 'zero')")
    return True


def check_random_ablation(fn: Callable[[Mapping[str, Tensor], int], Mapping[str, Tensor]]) -> bool:
    """Check ``fn(kept, seed)``: per layer, a boolean tensor of as many weights to remove
    as the subnetwork has there, drawn at random (the count ``ablated(masks,
    "randomly_sampled")`` removes), the same for the same seed whatever the global RNG;
    True when it agrees, False when not written."""
    gen = torch.Generator().manual_seed(3)
    kept = {"fc1.weight": torch.rand(8, 16, generator=gen) < 0.2,
            "out.weight": torch.rand(4, 8, generator=gen) < 0.4}  # fmt: skip
    torch.manual_seed(1)
    done, got = _attempt(fn, "per layer, draw kept[name].sum() positions with "
                         "torch.randperm(n, generator=torch.Generator().manual_seed(seed))",
                         kept, 0)  # fmt: skip
    if not done:
        return False
    assert set(got) == set(kept), f"layers {sorted(got)}, want {sorted(kept)}"
    for name, k in kept.items():
        g = got[name]
        assert isinstance(g, Tensor) and g.dtype == torch.bool, f"{name}: return a boolean tensor"
        assert g.shape == k.shape, f"{name}: shape {tuple(g.shape)}, want {tuple(k.shape)}"
        assert int(g.sum()) == int(k.sum()), (
            f"{name}: {int(g.sum())} weights removed, the subnetwork has {int(k.sum())} there: "
            "size-matched means the same count per layer"
        )
    assert any(not torch.equal(got[n], kept[n]) for n in kept), (
        "you removed the subnetwork itself, not a random set"
    )
    torch.manual_seed(2)
    again, other = fn(kept, 0), fn(kept, 1)
    assert all(torch.equal(again[n], got[n]) for n in kept), (
        "seed 0 twice gave two sets: draw from a torch.Generator seeded with seed"
    )
    assert any(not torch.equal(other[n], got[n]) for n in kept), (
        "seeds 0 and 1 gave the same set: use the seed"
    )
    print("correct: size-matched per layer, seeded, random")
    return True


def accuracies_with(
    run: ToyRun,
    subroutine: str,
    removed: Mapping[str, Tensor],
    zero_fn: Callable[[Tensor, Tensor], Tensor],
    n_test: int = 500,
) -> dict[str, float]:
    """Accuracy on both "+/-" sets of the run's base model with ``zero_fn(W, removed[name])``
    as each masked weight (the student's ablation, run on the toy); the test sets are
    those of ``Subnetworks.from_toy(run, n_test=n_test)``."""
    model = copy.deepcopy(run.model)
    params = dict(model.named_parameters())
    unknown = sorted(set(removed) - set(params))
    if unknown:
        raise ValueError(
            f"no weight named {unknown}; masked weights: {', '.join(run.masks[subroutine])}"
        )
    with torch.no_grad():
        for name, gone in removed.items():
            params[name].copy_(zero_fn(params[name].detach().clone(), gone))
    out = {}
    for s in (subroutine, run.task.other(subroutine)):
        test = run.task.dataset(f"pm:{s}", "test", n_test)
        out[f"pm:{s}"] = int((predict(model, test) == test.odd_index).sum()) / len(test.odd_index)
    return out
