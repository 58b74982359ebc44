"""Weight-sparse base training (sclib.sparsity) and masks over the nonzero weights only."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

from sclib.ablation import ABLATION_SEED_OFFSET, ablated, check_complement
from sclib.experiments.base_models import base_config, base_model, sparse_region
from sclib.experiments.cache import Cache
from sclib.experiments.profile_settings import PROFILES
from sclib.experiments.profiles import Cell, tiny_profile
from sclib.experiments.search import maskable_weights as count_maskable
from sclib.masks import HC_BETA, HC_GAMMA, HC_ZETA, add_masks, maskable_weights
from sclib.models.toy import toy_mlp
from sclib.sparsity import Sparsifier, density_at, keep_top_k_, weight_density
from sclib.tasks import get_task
from sclib.train import BaseTrainConfig, train_base

DIM = 8


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Models this small train fastest on one thread, above all on a shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 3))


def sparse_mlp() -> nn.Sequential:
    """``mlp()`` with 30 of the 80 weights of layer 0 zero; layer 2 dense."""
    model = mlp()
    with torch.no_grad():
        model[0].weight.view(-1)[torch.randperm(80)[:30]] = 0.0
    return model


# --- the schedule and the projection -------------------------------------------------


def test_density_falls_linearly_over_the_first_half_then_stays():
    assert density_at(0, 100, 0.1) == 1.0
    assert density_at(25, 100, 0.1) == pytest.approx(0.55)
    assert density_at(50, 100, 0.1) == pytest.approx(0.1)
    assert density_at(99, 100, 0.1) == density_at(500, 100, 0.1) == pytest.approx(0.1)
    assert density_at(50, 100, 0.1, anneal_fraction=1.0) == pytest.approx(0.55)
    assert density_at(7, 100, 1.0) == 1.0
    steps = [density_at(s, 100, 0.2) for s in range(60)]
    assert all(a > b for a, b in zip(steps[:50], steps[1:51], strict=True))


@pytest.mark.parametrize("args, match", [
    ((0, 100, 0.0), r"density must be in \(0, 1\].*got 0.0"),
    ((0, 100, 1.5), r"density must be in \(0, 1\].*got 1.5"),
    ((-1, 100, 0.5), r"step must be an int >= 0, got -1"),
    ((0, 0, 0.5), r"total_steps must be an int >= 1, got 0"),
    ((0, 100, 0.5, 0.0), r"anneal_fraction must be in \(0, 1\], got 0.0"),
])  # fmt: skip
def test_density_at_rejects_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        density_at(*args)


def test_keep_top_k_keeps_exactly_the_k_largest_of_each_tensor():
    a, b = torch.randn(6, 10), torch.randn(3, 3, 4)
    before = [a.clone(), b.clone()]
    keep_top_k_([a, b], 0.3)
    for new, old in zip((a, b), before, strict=True):
        k = round(0.3 * old.numel())
        top = old.abs().flatten().topk(k).indices
        expected = torch.zeros(old.numel())
        expected[top] = old.flatten()[top]
        assert int((new != 0).sum()) == k
        assert torch.equal(new.flatten(), expected)
    tiny = torch.randn(5)
    keep_top_k_([tiny], 0.01)  # round(0.05) = 0, but one weight always stays
    assert int((tiny != 0).sum()) == 1
    with pytest.raises(ValueError, match=r"density must be in \(0, 1\]"):
        keep_top_k_([a], 0.0)


def test_keep_top_k_at_density_one_changes_nothing():
    w = torch.randn(7, 9)
    before = w.clone()
    keep_top_k_([w], 1.0)
    assert torch.equal(w, before)


# --- training ----------------------------------------------------------------------


def toy_data(n: int = 128):
    return get_task("toy", dim=DIM).dataset("compositional", "train", n=n)


FAST = dict(epochs=4, batch_size=32, lr=1e-2, patience=None, progress=False, device="cpu")
REGION = "embedder.fc*"


def test_sparse_training_ends_at_the_target_density_in_the_region_only():
    model = toy_mlp(DIM, hidden=(16, 16), out_dim=8)
    total = 4 * math.ceil(128 / 32)
    sparsify = Sparsifier(model, REGION, 0.25, total)
    seen, densities = [], []

    def after_step(step: int) -> None:
        sparsify(step)
        seen.append(step)
        densities.append(weight_density(model, REGION))

    history = train_base(model, toy_data(), BaseTrainConfig(**FAST), after_step=after_step)
    assert seen == list(range(history["steps"])) and history["steps"] == total
    for name, w in maskable_weights(model, REGION):
        assert int((w != 0).sum()) == round(0.25 * w.numel()), name
    assert weight_density(model, REGION) == pytest.approx(0.25, abs=1e-3)
    out = model.embedder.out.weight
    assert int((out != 0).sum()) == out.numel()  # outside the region: dense
    # annealed: dense-ish after the first step, the target from half-way on
    assert densities[0] == pytest.approx(density_at(1, total, 0.25), abs=0.01)
    assert densities[0] > densities[total // 4] > densities[total // 2 - 1]
    assert densities[total // 2 - 1 :] == pytest.approx([densities[-1]] * (total // 2 + 1))


def test_an_after_step_that_does_nothing_changes_no_result():
    a, b = toy_mlp(DIM, hidden=16, out_dim=8), toy_mlp(DIM, hidden=16, out_dim=8)
    train_base(a, toy_data(64), BaseTrainConfig(**FAST))
    train_base(b, toy_data(64), BaseTrainConfig(**FAST), after_step=lambda step: None)
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y), name


VISION_TINY = tiny_profile(PROFILES[("vision", "quick")])


def test_profile_rejects_a_bad_weight_density():
    with pytest.raises(ValueError, match=r"Profile.weight_density must be in \(0, 1\]"):
        replace(VISION_TINY, weight_density=0.0)


@pytest.mark.parametrize("regime", ["untrained", "scratch"])
def test_sparse_base_model_has_the_target_density_in_its_region(regime):
    """The untrained sparse control (random weights at the same density) and a trained one."""
    profile = replace(VISION_TINY, weight_density=0.3)
    cell = Cell("inside_contact", "resnet", "contact", regime)
    model, info = base_model(cell, profile, Cache(None), progress=False)
    region = sparse_region(cell, profile)
    assert region is not None and sparse_region(cell, VISION_TINY) is None
    assert info["weight_density"] == pytest.approx(0.3, abs=1e-3)
    assert weight_density(model, region) == pytest.approx(info["weight_density"])
    for name, w in maskable_weights(model, region):
        assert int((w != 0).sum()) == max(1, round(0.3 * w.numel())), name
    stem = model.embedder.backbone.stem_conv.weight  # not in the region "stage3+"
    assert bool((stem != 0).all())


def test_base_config_of_a_dense_profile_is_unchanged():
    cell = Cell("inside_contact", "resnet", "contact")
    dense = base_config(cell, VISION_TINY)
    assert "weight_density" not in dense and "sparse_region" not in dense
    sparse = base_config(cell, replace(VISION_TINY, weight_density=0.3))
    assert sparse == {**dense, "weight_density": 0.3, "sparse_region": "stage3+"}


# --- masks over what exists --------------------------------------------------------


def test_masks_never_keep_a_zero_weight():
    model = sparse_mlp()
    ms = add_masks(model, init=0.05)  # every logit positive
    zero = model[0].parametrizations.weight.original == 0
    assert ms["0.weight"].support is not None and ms["2.weight"].support is None
    assert bool(ms["0.weight"].logits.gt(0).all()) and not bool(ms["0.weight"].kept()[zero].any())
    assert ms["0.weight"].size() == 50 and ms.size() == 50 + 24
    assert ms.kept_fraction() == 1.0  # of the nonzero weights (74 of 104 weights)
    stats = ms.stats().set_index("layer")
    assert stats.loc["0.weight", "size"] == 50 and stats.loc["0.weight", "kept"] == 50
    assert stats.loc["0.weight", "fraction"] == 1.0
    assert "74 nonzero weights of 104" in repr(ms)
    assert not any("support" in key for key in model.state_dict())  # not persistent
    with torch.no_grad():
        ms["0.weight"].logits.view(-1)[:40] = -1.0
    kept0 = int(ms["0.weight"].kept().sum())
    assert ms.kept_fraction() == pytest.approx((kept0 + 24) / 74)
    assert ms.stats().set_index("layer").loc["0.weight", "fraction"] == pytest.approx(kept0 / 50)


@pytest.mark.parametrize("method", ["continuous", "hard_concrete"])
def test_l0_counts_the_nonzero_weights_only(method):
    model = sparse_mlp()
    ms = add_masks(model, init=0.05, method=method)
    if method == "continuous":
        gate = torch.sigmoid(torch.tensor(0.05))
    else:
        gate = torch.sigmoid(torch.tensor(0.05 - HC_BETA * math.log(-HC_GAMMA / HC_ZETA)))
    assert ms.l0().item() == pytest.approx(74 * gate.item(), rel=1e-5)
    model.train()  # the gate a training forward caches for l0() is summed the same way
    out = model(torch.randn(4, 10)).sum()
    l0 = ms.l0()
    assert l0.item() == pytest.approx(74 * gate.item(), rel=1e-5)
    (out + l0).backward()
    zero = model[0].parametrizations.weight.original == 0
    assert bool(ms["0.weight"].logits.grad[zero].eq(0).all())  # nothing moves them
    assert bool(ms["0.weight"].logits.grad[~zero].ne(0).any())


def test_the_eval_forward_of_a_sparse_model_is_its_kept_weights():
    model = sparse_mlp()
    x = torch.randn(4, 10)
    expected = model(x)
    ms = add_masks(model, init=0.05)
    assert torch.equal(model.eval()(x), expected)
    ms.remove()


def gates(ms, mode: str, seed: int) -> dict[str, torch.Tensor]:
    with ablated(ms, mode, seed=seed):
        return {name: mask.override[0].clone() for name, mask in ms.items()}


@pytest.mark.parametrize("mode", ["randomly_sampled", "complement_sampled"])
def test_sampled_ablations_drop_only_nonzero_weights(mode):
    model = sparse_mlp()
    ms = add_masks(model, init=0.05)
    with torch.no_grad():
        ms["0.weight"].logits.view(-1)[20:] = -1.0  # keeps at most 20 of the 50 nonzero
        ms["2.weight"].logits.view(-1)[8:] = -1.0
    support = ms["0.weight"].support
    kept = ms["0.weight"].kept()
    for seed in range(20):
        dropped = gates(ms, mode, seed)["0.weight"] == 0
        assert int(dropped.sum()) == int(kept.sum())
        assert not bool((dropped & ~support).any())  # never a weight that is already zero
        if mode == "complement_sampled":
            assert not bool((dropped & kept).any())


def test_check_complement_counts_the_nonzero_weights():
    model = sparse_mlp()
    ms = add_masks(model, init=-0.05)
    with torch.no_grad():  # 30 of 80 weights, but 30 of the 50 nonzero: more than half
        ms["0.weight"].logits.view(-1)[
            ms["0.weight"].support.flatten().nonzero().squeeze(1)[:30]
        ] = 1.0
    assert int(ms["0.weight"].kept().sum()) == 30
    with pytest.raises(ValueError, match=r"0.weight \(kept 0.600\)"):
        check_complement(ms)


def test_dense_masks_are_as_before():
    """No support, and counts, L0 and sampled ablations as the numel-based formulas give."""
    model = mlp()
    ms = add_masks(model, init=0.05)
    assert all(mask.support is None for mask in ms.values())
    assert ms.size() == 104 and repr(ms).startswith("MaskSet(2 masks, 104 weights")
    assert ms.l0().item() == pytest.approx(104 * torch.sigmoid(torch.tensor(0.05)).item())
    with torch.no_grad():
        for mask in ms.values():
            mask.logits.normal_()
    kept = ms.kept()
    assert ms.kept_fraction() == sum(int(k.sum()) for k in kept.values()) / 104
    assert list(ms.stats()["size"]) == [80, 24]
    gen = torch.Generator().manual_seed(ABLATION_SEED_OFFSET + 3)
    got = gates(ms, "randomly_sampled", 3)
    for name, k in kept.items():  # the draw of a dense model: randperm(numel)[:k]
        old = torch.ones(k.numel())
        old[torch.randperm(k.numel(), generator=gen)[: int(k.sum())]] = 0.0
        assert torch.equal(got[name], old.view(k.shape)), name


def test_search_counts_the_nonzero_maskable_weights():
    assert count_maskable(mlp()) == 104
    assert count_maskable(sparse_mlp()) == 74
