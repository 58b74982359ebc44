"""The toy task (vectors, left AND right) and the toy MLP."""

from __future__ import annotations

import pytest
import torch

from sclib.models.toy import toy_mlp
from sclib.tasks import get_task
from sclib.tasks.toy import ToyTask

DIM = 8


@pytest.fixture(scope="module")
def task() -> ToyTask:
    return get_task("toy", dim=DIM, noise=1.0, seed=0)


def holds(task: ToyTask, items: torch.Tensor) -> dict[str, torch.Tensor]:
    """An independent reading of the code: solve rotation @ z = half, compare signs of z[:2]."""
    half = DIM // 2
    out = {}
    for k, name in enumerate(("left", "right")):
        rot = torch.as_tensor(task.rotations[k], dtype=torch.float64)
        x = items[..., k * half : (k + 1) * half].double()
        z = torch.linalg.solve(rot, x.reshape(-1, half).T).T.reshape(x.shape)
        assert z[..., :2].abs().min() > 0.4  # the code is never near a sign change
        out[name] = (z[..., 0] > 0) == (z[..., 1] > 0)
    return out


def odd_mask(ds) -> torch.Tensor:
    return torch.nn.functional.one_hot(ds.odd_index, 4).bool()


def test_registry_and_kinds(task):
    assert isinstance(task, ToyTask) and task.subroutines == ("left", "right")
    assert task.kinds == [
        "compositional",
        "subroutine:left",
        "subroutine:right",
        "pm:left",
        "pm:right",
    ]
    for rot in task.rotations:
        assert torch.allclose(
            torch.as_tensor(rot.T @ rot), torch.eye(DIM // 2, dtype=torch.float64)
        )


def test_compositional_regular_items_have_both_and_odd_breaks_what_meta_says(task):
    ds = task.dataset("compositional", "train", n=300)
    assert ds.items.shape == (300, 4, DIM) and ds.items.dtype == torch.float32
    h, odd = holds(task, ds.items), odd_mask(ds)
    assert h["left"][~odd].all() and h["right"][~odd].all()
    for i, meta in enumerate(ds.meta):
        broken = {s for s in ("left", "right") if not h[s][i, ds.odd_index[i]]}
        assert broken == set(meta["breaks"]) and broken
        assert meta["left"] == tuple(h["left"][i].tolist())
    kinds = {m["breaks"] for m in ds.meta}
    assert kinds == {("left",), ("right",), ("left", "right")}
    assert set(ds.odd_index.tolist()) == {0, 1, 2, 3}


@pytest.mark.parametrize("sub,other", [("left", "right"), ("right", "left")])
def test_pm_sets_break_exactly_one_property(task, sub, other):
    ds = task.dataset(f"pm:{sub}", "test", n=200)
    h, odd = holds(task, ds.items), odd_mask(ds)
    assert (h[sub] == ~odd).all()
    assert h[other].all()
    assert all(m["breaks"] == (sub,) for m in ds.meta)


@pytest.mark.parametrize("sub,other", [("left", "right"), ("right", "left")])
def test_subroutine_sets_other_property_varies_freely(task, sub, other):
    ds = task.dataset(f"subroutine:{sub}", "train", n=400)
    h, odd = holds(task, ds.items), odd_mask(ds)
    assert (h[sub] == ~odd).all()
    # the other property is a coin flip for every item, odd or regular
    assert 0.4 < h[other][odd].float().mean() < 0.6
    assert 0.4 < h[other][~odd].float().mean() < 0.6
    assert all(m["breaks"] == (sub,) for m in ds.meta)


def test_splits_disjoint_and_deterministic(task):
    sets = {
        s: task.dataset("compositional", s, n=200).items.reshape(-1, DIM)
        for s in ("train", "val", "test")
    }
    every = torch.cat(list(sets.values()))
    assert len(torch.unique(every, dim=0)) == len(every)
    again = get_task("toy", dim=DIM, noise=1.0, seed=0).dataset("compositional", "val", n=200)
    assert torch.equal(again.items.reshape(-1, DIM), sets["val"])
    other_seed = get_task("toy", dim=DIM, seed=1).dataset("compositional", "val", n=200)
    assert not torch.allclose(other_seed.items, again.items)
    assert again.params["seed"] == 0 and again.params["kind"] == "compositional"


def test_bad_arguments(task):
    with pytest.raises(ValueError, match="even int"):
        ToyTask("toy", dim=7)
    with pytest.raises(ValueError, match="noise"):
        ToyTask("toy", noise=-1.0)
    with pytest.raises(ValueError, match="pm:left"):
        task.dataset("pm:middle")


def test_toy_mlp_shapes_names_and_seed():
    model = toy_mlp(DIM, hidden=(16, 8), out_dim=4, seed=3)
    assert model(torch.zeros(5, 4, DIM)).shape == (5, 4)
    assert model.embedder.fc1.weight.shape == (16, DIM) and model.embedder.out.out_features == 4
    same, other = toy_mlp(DIM, (16, 8), 4, seed=3), toy_mlp(DIM, (16, 8), 4, seed=4)
    assert torch.equal(same.embedder.fc2.weight, model.embedder.fc2.weight)
    assert not torch.equal(other.embedder.fc2.weight, model.embedder.fc2.weight)
    state = torch.random.get_rng_state()
    toy_mlp(DIM, 16)
    assert torch.equal(state, torch.random.get_rng_state())  # global RNG untouched
    with pytest.raises(ValueError, match="positive"):
        toy_mlp(DIM, hidden=0)


def test_untrained_toy_masks_a_never_trained_base_model():
    from sclib.lab.exercises import untrained_toy
    from sclib.lab.toy import ToyConfig

    config = ToyConfig(n_mask=64, mask_epochs=1, seed=2)
    run = untrained_toy(config)
    fresh = toy_mlp(config.dim, hidden=config.hidden, out_dim=config.out_dim, seed=2)
    assert list(run.masks) == ["left"]
    for name, weight in fresh.state_dict().items():  # the base model was never trained
        assert torch.equal(run.model.state_dict()[name], weight), name
    with pytest.raises(ValueError, match="choose from: left, right"):
        untrained_toy(config, subroutines=("middle",))
