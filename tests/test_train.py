"""Training a base model and a mask, evaluation, item-order shuffling, configs."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sclib.batches import shuffle_items
from sclib.masks import add_masks
from sclib.models.toy import toy_mlp
from sclib.runtime import resolve_device
from sclib.tasks import get_task
from sclib.train import (
    BaseTrainConfig,
    MaskTrainConfig,
    evaluate,
    loss_and_accuracy,
    predict,
    train_base,
    train_mask,
)

DIM = 8
FAST = dict(epochs=8, lr=1e-2, progress=False, device="cpu")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Models this small train fastest on one thread, above all on a shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def task():
    return get_task("toy", dim=DIM)


@pytest.fixture(scope="module")
def data(task):
    return {
        "train": task.dataset("compositional", "train", n=600),
        "val": task.dataset("compositional", "val", n=200),
        **{k: task.dataset(k, "test", n=200) for k in task.kinds},
    }


def fresh(seed: int = 0) -> nn.Module:
    return toy_mlp(DIM, hidden=(16, 16), out_dim=8, seed=seed)


@pytest.fixture(scope="module")
def trained(data):
    model = fresh()
    train_base(model, data["train"], BaseTrainConfig(**FAST))
    return model


def test_train_base_converges_and_base_model_is_near_chance_on_subroutine_sets(trained, data):
    for kind in ("compositional", "pm:left", "pm:right"):
        assert evaluate(trained, data[kind]) >= 0.95, kind
    for kind in ("subroutine:left", "subroutine:right"):
        assert evaluate(trained, data[kind]) < 0.6, kind


def test_same_seed_same_numbers(data):
    runs = []
    for _ in range(2):
        model = fresh()
        config = BaseTrainConfig(epochs=2, progress=False, device="cpu", schedule="onecycle")
        history = train_base(model, data["train"], config, val=data["val"])
        masks = add_masks(model)
        mask_history = train_mask(
            model, masks, data["subroutine:left"], MaskTrainConfig(epochs=2, progress=False)
        )
        runs.append((history, mask_history, model.state_dict()))
    (h1, m1, s1), (h2, m2, s2) = runs
    assert h1 == h2 and m1 == m2
    assert s1.keys() == s2.keys() and all(torch.equal(s1[k], s2[k]) for k in s1)
    other = fresh()
    h3 = train_base(other, data["train"], BaseTrainConfig(epochs=2, seed=1, progress=False))
    assert h3["train_loss"] != h1["train_loss"]


def test_early_stopping_restores_best_weights(data):
    model = fresh()
    config = BaseTrainConfig(epochs=30, lr=0.3, patience=2, progress=False)  # lr too high
    history = train_base(model, data["train"], config, val=data["val"])
    assert history["stopped_early"] and len(history["val_loss"]) < 30
    best = history["best_epoch"]
    assert history["val_loss"][best] == min(history["val_loss"])
    assert loss_and_accuracy(model, data["val"])[0] == pytest.approx(history["val_loss"][best])


def test_max_steps_schedule_and_augment(data):
    seen = []

    def augment(items, generator):
        seen.append(isinstance(generator, torch.Generator))
        return items + 0.01 * torch.randn(items.shape, generator=generator)

    config = BaseTrainConfig(epochs=5, max_steps=7, schedule="cosine", progress=False)
    history = train_base(fresh(), data["train"], config, augment=augment)
    assert history["steps"] == 7 and len(seen) == 7 and all(seen)
    assert history["lr"][-1] < 1e-3 and history["epoch"] == [0]


def test_train_mask_updates_only_logits_and_shrinks_the_mask(trained, data):
    before = {k: v.clone() for k, v in trained.state_dict().items()}
    masks = add_masks(trained, init=0.05)
    config = MaskTrainConfig(
        epochs=3, l0_lambda=1e-2, max_temperature=50.0, anneal="step", progress=False
    )
    trained.eval()
    history = train_mask(trained, masks, data["subroutine:left"], config, val=data["pm:left"])
    assert not trained.training  # mode restored
    fractions = history["kept_fraction"]
    assert fractions[-1] < 0.5 and fractions[-1] <= fractions[0]
    assert len(history["val_acc"]) == 3 and history["steps"] == 3 * math.ceil(200 / 64)
    assert masks.temperature == 50.0 and history["temperature"][-1] < 50.0
    with masks.disabled():
        assert evaluate(trained, data["pm:left"]) >= 0.95
    masks.remove()
    after = trained.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.requires_grad for p in trained.parameters())


def test_train_mask_leaves_batchnorm_statistics_alone(data):
    """Pretrained EfficientNet keeps BatchNorm: mask training must not move its stats."""
    from sclib.models.head import OddOneOut

    torch.manual_seed(0)
    model = OddOneOut(
        nn.Sequential(nn.Linear(DIM, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 8))
    )
    bn = model.embedder[1]
    before = (bn.running_mean.clone(), bn.running_var.clone(), int(bn.num_batches_tracked))
    masks = add_masks(model)
    train_mask(model, masks, data["subroutine:left"], MaskTrainConfig(epochs=1, progress=False))
    assert torch.equal(bn.running_mean, before[0]) and torch.equal(bn.running_var, before[1])
    assert int(bn.num_batches_tracked) == before[2]


def test_mask_temperature_schedules():
    paper = MaskTrainConfig(epochs=4, max_temperature=16.0)
    assert [paper.temperature(e, 3, 10) for e in range(4)] == [1.0, 2.0, 4.0, 8.0]
    step = MaskTrainConfig(epochs=1, max_temperature=16.0, anneal="step")
    assert [step.temperature(0, i, 4) for i in range(4)] == [1.0, 2.0, 4.0, 8.0]


def test_evaluate_restores_mode_and_matches_predict(trained, data):
    trained.train()
    trained.embedder.fc1.eval()
    accuracy = evaluate(trained, data["compositional"], batch_size=64)
    assert trained.training and not trained.embedder.fc1.training
    trained.eval()
    picks = predict(trained, data["compositional"])
    assert not trained.training and picks.shape == (200,) and picks.dtype == torch.long
    assert accuracy == (picks == data["compositional"].odd_index).float().mean().item()


def test_shuffle_items_keeps_targets_consistent():
    items = torch.arange(200 * 4 * 3).reshape(200, 4, 3)
    odd = torch.randint(0, 4, (200,))
    new, new_odd = shuffle_items(items, odd, torch.Generator().manual_seed(0))
    assert torch.equal(new[torch.arange(200), new_odd], items[torch.arange(200), odd])
    assert torch.equal(new.sort(dim=1).values, items)  # a permutation of each problem
    assert (new_odd != odd).any() and not torch.equal(new, items)
    again, again_odd = shuffle_items(items, odd, torch.Generator().manual_seed(0))
    assert torch.equal(again, new) and torch.equal(again_odd, new_odd)
    words = [["a", "b", "c", "odd"], ["odd", "x", "y", "z"]]
    shuffled, where = shuffle_items(words, torch.tensor([3, 0]), torch.Generator().manual_seed(1))
    assert [row[i] for row, i in zip(shuffled, where.tolist(), strict=True)] == ["odd", "odd"]
    assert [sorted(r) for r in shuffled] == [sorted(r) for r in words]


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: BaseTrainConfig(epochs=-1), "epochs must be a positive int, got -1"),
        (lambda: BaseTrainConfig(device="tpu"), "unknown device 'tpu'; choose one of: auto, cpu"),
        (
            lambda: BaseTrainConfig(schedule="step"),
            "unknown schedule 'step'; choose one of: constant",
        ),
        (lambda: BaseTrainConfig(patience=0), "patience"),
        (lambda: BaseTrainConfig(max_steps=0), "max_steps must be a positive int or None, got 0"),
        (
            lambda: MaskTrainConfig(anneal="batch"),
            "unknown anneal 'batch'; choose one of: epoch, step",
        ),
        (lambda: MaskTrainConfig(l0_lambda=-1.0), "l0_lambda"),
        (lambda: MaskTrainConfig(max_temperature=0.5), "max_temperature"),
    ],
)
def test_bad_config_values(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_configs_frozen_with_paper_defaults():
    config = MaskTrainConfig()
    assert (config.epochs, config.batch_size, config.lr, config.l0_lambda) == (90, 64, 1e-2, 1e-8)
    assert config.max_temperature == 200.0 and BaseTrainConfig().weight_decay == 0.0
    with pytest.raises(AttributeError):
        config.epochs = 3  # type: ignore[misc]
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
