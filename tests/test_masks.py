"""Tests for sclib.masks: masks, ablations, IoU, hard concrete and magnitude masks."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sclib.ablation import ABLATION_MODES, ablated
from sclib.masks import GATE_FLOOR, METHODS, add_masks, iou, magnitude_masks


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(0)


class Conv1D(nn.Module):
    """Stand-in for transformers' Conv1D: weight (in, out), y = x @ W + b."""

    def __init__(self, n_out: int, n_in: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_in, n_out) * 0.1)
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight + self.bias


class Mixed(nn.Module):
    """Embedding, Linear, LayerNorm, Conv1d, Conv2d, Conv1D and a Linear tied to the embedding."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 6)
        self.enc = nn.Sequential(nn.Linear(6, 6), nn.LayerNorm(6), nn.Linear(6, 6))
        self.conv1 = nn.Conv1d(6, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(1, 2, 3, padding=1)
        self.gpt = Conv1D(6, 6)
        self.decoder = nn.Linear(6, 10)
        self.decoder.weight = self.embed.weight


def mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))


def random_logits(ms) -> None:
    with torch.no_grad():
        for mask in ms.values():
            mask.logits.normal_()


def original(model: nn.Module, name: str) -> torch.Tensor:
    module_name, tname = name.rsplit(".", 1)
    return model.get_submodule(module_name).parametrizations[tname].original


def test_forward_train_and_eval_values():
    model = mlp()
    w0, w2 = model[0].weight.detach().clone(), model[2].weight.detach().clone()
    ms = add_masks(model)
    random_logits(ms)
    ms.temperature = 3.0
    s0, s2 = ms["0.weight"].logits.detach(), ms["2.weight"].logits.detach()
    x = torch.randn(4, 5)
    model.train()
    assert torch.equal(model[0].weight, w0 * torch.sigmoid(3.0 * s0))
    manual = F.linear(
        F.relu(F.linear(x, w0 * torch.sigmoid(3.0 * s0), model[0].bias)),
        w2 * torch.sigmoid(3.0 * s2),
        model[2].bias,
    )
    assert torch.equal(model(x), manual)
    model.eval()
    assert torch.equal(model[0].weight, w0 * (s0 > 0))
    manual = F.linear(
        F.relu(F.linear(x, w0 * (s0 > 0), model[0].bias)), w2 * (s2 > 0), model[2].bias
    )
    assert torch.equal(model(x), manual)


def test_gates_far_below_zero_stop_at_the_floor_not_denormal():
    model = mlp()
    ms = add_masks(model)
    mask = ms["0.weight"]
    ms.temperature = 200.0
    with torch.no_grad():  # one logit either side of the floor, one deep below it
        mask.logits.fill_(1.0)
        mask.logits[0, :3] = torch.tensor([GATE_FLOOR / 200 + 1e-3, GATE_FLOOR / 200, -5.0])
    model.train()
    w = model[0].weight[0, :3]
    w0 = original(model, "0.weight")[0, :3]
    floor = torch.sigmoid(torch.tensor(GATE_FLOOR))  # 3e-7; sigmoid(-1000) would be a denormal
    torch.testing.assert_close(w[1:].detach(), w0[1:] * floor)
    assert w[0] / w0[0] > w[1] / w0[1]  # just above the floor: a larger gate
    assert torch.finfo(torch.float32).tiny < floor < 1e-6
    x = 200.0 * mask.logits.detach()
    l0 = mask.l0()
    assert l0.item() == pytest.approx(torch.sigmoid(x.clamp(min=GATE_FLOOR)).sum().item())
    l0.backward()
    grad = mask.logits.grad[0, :3]
    # at the floor every logit gets the same gradient, at most beta * sigmoid(floor) = 6e-5 of
    # the upstream one (a live gate at 0.5 gets beta / 4 = 50)
    assert grad[0] > grad[1] == grad[2] and grad[1] <= 200 * floor


def test_fused_gate_matches_plain_autograd():
    """The hand-fused training gate (``_Gated``) gives the outputs and logit gradients of the
    same formula written with autograd ops, for the loss and the L0 term together."""
    torch.manual_seed(0)
    x, y = torch.randn(16, 5), torch.randint(0, 3, (16,))
    fused_model, plain_model = mlp(), mlp()
    plain_model.load_state_dict(fused_model.state_dict())
    grads = []
    for model, fused in ((fused_model, True), (plain_model, False)):
        ms = add_masks(model, init=0.05)
        ms.temperature = 37.0
        with torch.no_grad():
            for m in ms.values():
                m.logits.copy_(
                    torch.randn(m.logits.shape, generator=torch.Generator().manual_seed(1))
                )
        model.train()
        if fused:
            out = model(x)
        else:  # the formula by hand, the base weights as constants
            w = {n: original(model, n) for n in ms}
            gate = {n: torch.sigmoid((ms[n].logits * 37.0).clamp(min=GATE_FLOOR)) for n in ms}
            hidden = F.relu(F.linear(x, w["0.weight"] * gate["0.weight"], model[0].bias))
            out = F.linear(hidden, w["2.weight"] * gate["2.weight"], model[2].bias)
        l0 = ms.l0() if fused else sum(g.sum() for g in gate.values())
        (F.cross_entropy(out, y) + 1e-3 * l0).backward()
        grads.append([ms[n].logits.grad.clone() for n in ms])
        grads.append(out.detach())
    for a, b in zip(grads[0], grads[2], strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(grads[1], grads[3])


def test_include_none_picks_linear_and_conv_weights_only():
    ms = add_masks(Mixed())
    assert sorted(ms) == [
        "conv1.weight",
        "conv2.weight",
        "enc.0.weight",
        "enc.2.weight",
        "gpt.weight",
    ]
    assert all(ms[n].logits.shape == original(ms.model, n).shape for n in ms)


def test_include_glob_and_predicate():
    assert sorted(add_masks(Mixed(), include=["enc.*", "conv2"])) == [
        "conv2.weight",
        "enc.0.weight",
        "enc.2.weight",
    ]
    assert list(add_masks(Mixed(), include="conv?")) == ["conv1.weight", "conv2.weight"]
    chosen = add_masks(Mixed(), include=lambda name, m: isinstance(m, nn.Conv2d))
    assert list(chosen) == ["conv2.weight"]
    with pytest.warns(UserWarning, match="nothing"):
        add_masks(Mixed(), include=["enc.0", "nothing"])


def test_frozen_base_only_logits_get_grads_and_flags_restored():
    model = mlp()
    model[2].bias.requires_grad_(False)
    ms = add_masks(model)
    assert not any(p.requires_grad for n, p in model.named_parameters() if "logits" not in n)
    model.train()
    model(torch.randn(4, 5)).sum().backward()
    got = {n for n, p in model.named_parameters() if p.grad is not None}
    assert got == {"0.parametrizations.weight.0.logits", "2.parametrizations.weight.0.logits"}
    assert set(map(id, ms.parameters())) == {id(m.logits) for m in ms.values()}
    names = [n for n, _ in model.named_parameters()]
    ms.remove()
    assert [p.requires_grad for p in model.parameters()] == [True, True, True, False]
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert names != ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_temperature_reaches_every_mask():
    ms = add_masks(Mixed())
    ms.temperature = 7.5
    assert ms.temperature == 7.5 and all(m.temperature == 7.5 for m in ms.values())
    with pytest.raises(ValueError, match="temperature"):
        ms.temperature = 0


def test_l0_value_and_gradient_with_and_without_forward():
    model = mlp()
    ms = add_masks(model)
    random_logits(ms)
    ms.temperature = 2.0
    expected = sum(torch.sigmoid(2.0 * m.logits).sum() for m in ms.values())
    l0 = ms.l0()
    assert torch.allclose(l0, expected)
    l0.backward()
    for m in ms.values():
        sig = torch.sigmoid(2.0 * m.logits.detach())
        assert torch.allclose(m.logits.grad, 2.0 * sig * (1 - sig))
    # after a training forward l0 reuses the gate; gradients must be the same as separately
    x = torch.randn(4, 5)
    model.train()
    for m in ms.values():
        m.logits.grad = None
    (model(x).sum() + 0.5 * ms.l0()).backward()
    fast = [m.logits.grad.clone() for m in ms.values()]
    for m in ms.values():
        m.logits.grad = None
    model(x).sum().backward()
    l0 = sum(torch.sigmoid(2.0 * m.logits).sum() for m in ms.values())
    (0.5 * l0).backward()
    assert all(torch.allclose(a, m.logits.grad) for a, m in zip(fast, ms.values(), strict=True))
    model(x)
    copy.deepcopy(model)  # a cached gate never blocks deepcopy


def test_kept_stats_and_state_dict_round_trip():
    model = mlp()
    ms = add_masks(model)
    random_logits(ms)
    kept = ms.kept()
    assert all(torch.equal(kept[n], ms[n].logits > 0) for n in ms)
    total = sum(int(k.sum()) for k in kept.values())
    assert ms.kept_fraction() == pytest.approx(total / (35 + 21))
    stats = ms.stats()
    assert list(stats.columns) == ["layer", "size", "kept", "fraction"]
    assert stats["layer"].tolist() == ["0.weight", "2.weight"] and stats["size"].tolist() == [
        35,
        21,
    ]
    assert stats["kept"].sum() == total
    state = ms.state_dict()
    other = add_masks(mlp())
    other.load_state_dict(state)
    assert all(torch.equal(other[n].logits, ms[n].logits) for n in ms)
    with pytest.raises(ValueError, match="missing"):
        other.load_state_dict({"0.weight": state["0.weight"]})
    with pytest.raises(ValueError, match="unexpected"):
        other.load_state_dict({**state, "4.weight": state["0.weight"]})
    with pytest.raises(ValueError, match="shape"):
        other.load_state_dict({**state, "0.weight": torch.zeros(2, 2)})


def test_remove_restores_exactly():
    model = mlp()
    weight = model[0].weight
    before = weight.detach().clone()
    x = torch.randn(4, 5)
    out = model(x)
    ms = add_masks(model)
    random_logits(ms)
    ms.remove()
    assert model[0].weight is weight and torch.equal(weight, before)
    assert type(model[0]) is nn.Linear and len(ms) == 0
    assert not any("logits" in n for n, _ in model.named_parameters())
    assert torch.equal(model(x), out)
    add_masks(model)  # can be masked again


def test_disabled_gives_unmasked_model():
    model = mlp()
    x = torch.randn(4, 5)
    out = model(x)
    ms = add_masks(model, init=-1.0)
    model.eval()
    masked = model(x)
    with ms.disabled() as inner:
        assert inner is model and torch.equal(model(x), out)
    assert torch.equal(model(x), masked)


def masked_mlp():
    model = mlp()
    ms = add_masks(model)
    with torch.no_grad():
        for m in ms.values():
            m.logits.copy_(torch.rand(m.logits.shape) - 0.75)  # ~25% kept
    model.eval()
    return model, ms


def test_zero_and_random_reinit_values():
    model, ms = masked_mlp()
    for name in ms:
        w = original(model, name)
        kept = ms[name].kept()
        with ablated(ms, "zero"):
            assert torch.equal(model.get_submodule(name[:-7]).weight, w * ~kept)
        with ablated(ms, "random_reinit"):
            new = model.get_submodule(name[:-7]).weight
            assert torch.equal(new[~kept], w[~kept])
            assert not torch.equal(new[kept], w[kept])
            assert new[kept].abs().max() <= 1 / math.sqrt(w.shape[1])


def test_ablation_restores_exactly_also_after_exception():
    model, ms = masked_mlp()
    x = torch.randn(4, 5)
    out = model(x)
    weights = {n: original(model, n).clone() for n in ms}
    for mode in ABLATION_MODES:
        with ablated(ms, mode, seed=1):
            assert not torch.equal(model(x), out)
        assert torch.equal(model(x), out)
        with pytest.raises(RuntimeError, match="boom"), ablated(ms, mode):
            raise RuntimeError("boom")
        assert torch.equal(model(x), out)
    assert all(torch.equal(original(model, n), w) for n, w in weights.items())
    assert all(m.override is None for m in ms.values())


def zeroed(model, ms, mode, seed=0):
    """Name -> bool tensor of the positions the ablation zeroes (weights are nonzero)."""
    with ablated(ms, mode, seed=seed):
        return {n: model.get_submodule(n[:-7]).weight == 0 for n in ms}


def test_sampled_sizes_disjointness_and_seeds():
    model, ms = masked_mlp()
    kept = ms.kept()
    for mode in ("randomly_sampled", "complement_sampled"):
        a, b, c = zeroed(model, ms, mode), zeroed(model, ms, mode), zeroed(model, ms, mode, 1)
        assert all(int(a[n].sum()) == int(kept[n].sum()) for n in ms)
        assert all(torch.equal(a[n], b[n]) for n in ms)
        assert any(not torch.equal(a[n], c[n]) for n in ms)
    comp = zeroed(model, ms, "complement_sampled")
    assert not any((comp[n] & kept[n]).any() for n in ms)


def test_complement_smaller_than_subnetwork_raises_naming_the_layers():
    model = mlp()
    ms = add_masks(model, init=-1.0)
    with torch.no_grad():
        ms["0.weight"].logits.fill_(1.0)
        ms["0.weight"].logits[0, :2] = -1.0  # more than half kept in 0.weight only
    weights = {n: original(model, n).clone() for n in ms}
    with pytest.raises(ValueError, match=r"smaller than the subnetwork in: 0\.weight \(kept 0\.9"):
        with ablated(ms, "complement_sampled"):
            pass
    assert all(m.override is None for m in ms.values())  # nothing was applied
    assert all(torch.equal(original(model, n), w) for n, w in weights.items())
    with torch.no_grad():  # exactly half kept: the complement is just large enough
        ms["0.weight"].logits.view(-1)[: (ms["0.weight"].logits.numel() + 1) // 2] = -1.0
    z, kept = zeroed(model, ms, "complement_sampled")["0.weight"], ms["0.weight"].kept()
    assert int(z.sum()) == int(kept.sum()) and not (z & kept).any()


def test_iou_hand_made():
    a = {
        "x": torch.tensor([[1, 1], [0, 0]], dtype=torch.bool),
        "y": torch.zeros(3, dtype=torch.bool),
    }
    b = {
        "x": torch.tensor([[1, 0], [1, 0]], dtype=torch.bool),
        "y": torch.zeros(3, dtype=torch.bool),
    }
    out = iou(a, b)
    assert out["x"] == pytest.approx(1 / 3) and math.isnan(out["y"])
    assert iou(a, a)["x"] == 1.0
    with pytest.raises(ValueError, match="z"):
        iou(a, {**b, "z": b["y"]})
    with pytest.raises(ValueError, match="shape"):
        iou(a, {**b, "y": torch.zeros(4, dtype=torch.bool)})


def test_hard_concrete():
    model = mlp()
    w = model[0].weight.detach().clone()
    ms = add_masks(model, init=0.5, method="hard_concrete")
    ms.temperature = 5.0  # accepted, not used
    random_logits(ms)
    s = ms["0.weight"].logits.detach()
    model.train()
    a, b = model[0].weight, model[0].weight
    assert a.shape == w.shape and not torch.equal(a, b)
    gate = a.detach() / w
    assert ((gate >= 0) & (gate <= 1 + 1e-6)).all()
    model.eval()
    assert torch.equal(model[0].weight, w * (s > 0)) and torch.equal(model[0].weight, w * (s > 0))
    shift = 2 / 3 * math.log(0.1 / 1.1)
    expected = sum(torch.sigmoid(m.logits - shift).sum() for m in ms.values())
    assert torch.allclose(ms.l0(), expected) and ms.l0().requires_grad


def test_magnitude_masks_keep_largest():
    model = mlp()
    ms = magnitude_masks(model, 0.3)
    model.train()
    for name in ms:
        w, kept = original(model, name), ms[name].kept()
        assert int(kept.sum()) == round(0.3 * w.numel())
        assert w[kept].abs().min() >= w[~kept].abs().max()
        assert torch.equal(model.get_submodule(name[:-7]).weight, w * kept)  # binary in training
    assert not any(p.requires_grad for p in ms.parameters())
    with ablated(ms, "zero"):
        assert (model[0].weight[ms["0.weight"].kept()] == 0).all()
    with pytest.raises(ValueError, match="fraction"):
        magnitude_masks(mlp(), 1.5)


def test_bad_inputs_name_valid_values():
    with pytest.raises(ValueError, match="continuous, hard_concrete"):
        add_masks(mlp(), method="gumbel")
    assert METHODS == ("continuous", "hard_concrete")
    with pytest.raises(ValueError, match="'enc.0'"):
        add_masks(Mixed(), include=["encoder.*"])
    with pytest.raises(ValueError, match="predicate"):
        add_masks(mlp(), include=lambda name, m: False)
    with pytest.raises(ValueError, match="nn.Linear"):
        add_masks(nn.Sequential(nn.ReLU(), nn.LayerNorm(3)))
    _, ms = masked_mlp()
    with pytest.raises(ValueError, match="zero, random_reinit"):
        with ablated(ms, "mean"):
            pass
    with pytest.raises(ValueError, match="already"):
        add_masks(ms.model)


def test_hf_conv1d_stand_in():
    model = nn.Sequential(Conv1D(8, 4), nn.ReLU(), Conv1D(2, 8))
    w = model[0].weight.detach().clone()
    x = torch.randn(3, 4)
    ms = add_masks(model)
    assert list(ms) == ["0.weight", "2.weight"] and ms["0.weight"].fan_in == 4
    random_logits(ms)
    model.eval()
    kept = ms["0.weight"].kept()
    assert torch.equal(model[0](x), x @ (w * kept) + model[0].bias)
    with ablated(ms, "random_reinit"):
        assert model[0].weight.abs().max() <= max(w.abs().max(), 1 / math.sqrt(4))


def test_conv2d_and_attention_models():
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Conv2d(3, 2, 3))
    w = model[0].weight.detach().clone()
    ms = add_masks(model)
    random_logits(ms)
    model.eval()
    x = torch.randn(2, 1, 6, 6)
    assert torch.equal(model[0](x), F.conv2d(x, w * ms["0.weight"].kept(), model[0].bias))
    attn = nn.MultiheadAttention(4, 2, batch_first=True)
    assert sorted(add_masks(attn)) == ["in_proj_weight", "out_proj.weight"]
