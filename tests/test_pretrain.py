"""SimCLR and MLM pretraining: the loss, the views, the corpus, the masking, determinism."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from sclib.models.language import build_language_embedder
from sclib.models.vision import build_vision_embedder
from sclib.pretrain.mlm import MLMConfig, mask_tokens, mlm_corpus, pretrain_mlm
from sclib.pretrain.simclr import (
    Augmentation,
    SimCLRConfig,
    nt_xent,
    pretrain_simclr,
    simclr_augment,
    task_images,
)
from sclib.tasks import vocab
from sclib.tasks.language import NUMBERS, LanguageTask


@pytest.fixture(autouse=True)
def _one_thread():
    """One thread (the CPU is shared), restored after each test."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------- SimCLR
def test_nt_xent_matches_a_hand_computation():
    z1 = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    z2 = torch.tensor([[0.8, 0.6], [0.0, 2.0]])  # not unit length: normalised inside
    tau = 0.5
    z = [[1.0, 0.0], [0.6, 0.8], [0.8, 0.6], [0.0, 1.0]]
    partner = [2, 3, 0, 1]
    losses = []
    for i in range(4):
        sims = {j: sum(a * b for a, b in zip(z[i], z[j], strict=True)) / tau for j in range(4)}
        denominator = sum(math.exp(s) for j, s in sims.items() if j != i)
        losses.append(-math.log(math.exp(sims[partner[i]]) / denominator))
    loss, accuracy = nt_xent(z1, z2, temperature=tau)
    assert loss.item() == pytest.approx(sum(losses) / 4, rel=1e-6)
    assert accuracy.item() == 0.5  # rows 0 and 3 find their partners, 1 and 2 each other
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        nt_xent(z1, z2[:1])


def test_views_are_seeded_per_image_and_lossless_without_warp():
    images = task_images(["inside_contact", "number_contact"], 48, 1, cache_dir=None)
    assert images.shape == (8, 1, 48, 48) and set(images.unique().tolist()) == {0.0, 1.0}
    a = simclr_augment(images, torch.Generator().manual_seed(0))
    assert torch.equal(a, simclr_augment(images, torch.Generator().manual_seed(0)))
    assert not torch.equal(a, simclr_augment(images, torch.Generator().manual_seed(1)))
    assert a.min() >= 0 and a.max() <= 1
    exact = Augmentation(affine_prob=0.0, jitter_prob=0.0)
    b = simclr_augment(images, torch.Generator().manual_seed(0), exact)
    assert torch.equal(b.sum(dim=(1, 2, 3)), images.sum(dim=(1, 2, 3)))  # flips/rot90 only
    with pytest.raises(ValueError, match="scale"):
        Augmentation(scale=(1.2, 0.9))


def test_simclr_is_deterministic_and_leaves_the_mlp():
    images = torch.rand(8, 1, 16, 16)
    config = SimCLRConfig(epochs=2, batch_size=4, max_steps=3, progress=False, device="cpu")
    results = []
    rng = torch.get_rng_state()
    for seed in (0, 0, 1):
        embedder = build_vision_embedder("resnet", seed=0)
        start_backbone, start_mlp = _state(embedder.backbone), _state(embedder.mlp)
        history = pretrain_simclr(embedder, images, replace(config, seed=seed))
        assert _equal(_state(embedder.mlp), start_mlp)
        assert not _equal(_state(embedder.backbone), start_backbone)
        results.append((_state(embedder.backbone), history))
    assert torch.equal(torch.get_rng_state(), rng)  # the global RNG is left alone
    (w0, h0), (w0_again, h0_again), (w1, _) = results
    assert _equal(w0, w0_again) and h0 == h0_again
    assert not _equal(w0, w1)
    assert h0["steps"] == 3 and h0["epoch"] == [0, 1] and all(math.isfinite(x) for x in h0["loss"])
    with pytest.raises(ValueError, match="batch_size"):
        SimCLRConfig(batch_size=1)
    with pytest.raises(ValueError, match="device"):
        SimCLRConfig(device="gpu")
    with pytest.raises(ValueError, match="max_steps must be a positive int or None, got 0"):
        SimCLRConfig(max_steps=0)


# ----------------------------------------------------------------------------- MLM
def _agrees(sentence: str) -> bool:
    """Head noun and main verb (or reflexive) agree in number; so does a subject-RC verb."""
    singular = {s for s, _ in vocab.NOUNS}
    verbs = dict(vocab.PRESENT_VERBS)  # singular form -> plural form
    words = sentence.split()
    number = "singular" if words[1] in singular else "plural"
    last = words[-1]
    if last in vocab.REFLEXIVES.values():
        return vocab.REFLEXIVES[number] == last
    checked = [last] + (
        [words[3]] if words[2] == "that" and words[3] in {*verbs, *verbs.values()} else []
    )
    return all((w in verbs) == (number == "singular") for w in checked)


def test_corpus_is_grammatical_balanced_seeded_and_train_only():
    corpus = mlm_corpus(400, seed=0)
    assert len(corpus) == 400 and corpus == mlm_corpus(400, seed=0)
    assert corpus != mlm_corpus(400, seed=1)
    assert all(_agrees(s) for s in corpus)
    assert sum(s.endswith(("himself", "themselves")) for s in corpus) == 200  # both tasks
    heads = [s.split()[1] in {s for s, _ in vocab.NOUNS} for s in corpus]
    assert 120 < sum(heads) < 280  # both numbers
    held_out = {
        s
        for name in ("sv_agreement", "anaphora")
        for number in NUMBERS
        for split in ("val", "test")
        for items in LanguageTask(name, number=number).dataset("compositional", split, 50).items
        for s in items
    }
    assert not held_out & set(mlm_corpus(2000, seed=0))


def test_masking_follows_bert():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 2000, (400, 50), generator=g)
    maskable = torch.ones_like(ids, dtype=torch.bool)
    maskable[:, 0] = False
    inputs, labels = mask_tokens(ids, maskable, 103, torch.arange(5000, 6000), g)
    chosen = labels != -100
    assert chosen.float().mean().item() == pytest.approx(0.15 * 49 / 50, abs=0.01)
    assert not chosen[:, 0].any() and torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(inputs[~chosen], ids[~chosen])
    n = chosen.sum().item()
    masked = (inputs[chosen] == 103).sum().item() / n
    replaced = (inputs[chosen] >= 5000).sum().item() / n
    assert masked == pytest.approx(0.8, abs=0.03) and replaced == pytest.approx(0.1, abs=0.02)
    _, labels = mask_tokens(ids[:1], maskable[:1], 103, torch.arange(5), g, mask_prob=1e-9)
    assert (labels != -100).sum().item() == 1  # never a batch without a target


def test_mlm_is_deterministic_and_trains_bert():
    embedder = build_language_embedder("bert_small", seed=0, num_layers=1)
    start = _state(embedder.bert)
    sentences = mlm_corpus(24, seed=0)
    config = MLMConfig(epochs=2, batch_size=8, max_steps=2, progress=False, device="cpu")
    runs = []
    other = {"seed": 1, "tie_weights": False, "output_vocab": "corpus"}
    for overrides in ({}, {}, other):
        embedder.bert.load_state_dict(start)
        history = pretrain_mlm(embedder, sentences, replace(config, **overrides))
        runs.append((_state(embedder.bert), history))
    (w0, h0), (w0_again, h0_again), (w1, h1) = runs
    assert _equal(w0, w0_again) and h0 == h0_again
    assert not _equal(w0, start) and not _equal(w0, w1)
    assert h0["steps"] == 2 and h0["n_outputs"] == 30522 and math.isfinite(h0["loss"][0])
    assert h1["n_outputs"] < 300 and math.isfinite(h1["loss"][0])  # untied, corpus softmax
    with pytest.raises(ValueError, match="output_vocab"):
        MLMConfig(output_vocab="tiny")
    with pytest.raises(ValueError, match="max_steps must be a positive int or None, got 0"):
        MLMConfig(max_steps=0)
    with pytest.raises(ValueError, match="sentences"):
        pretrain_mlm(embedder, [], config)
