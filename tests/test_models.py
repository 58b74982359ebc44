"""sclib.models: shapes, seeding, norms, pretrained weights, offline loading, mask regions."""

from __future__ import annotations

import copy
import socket
from fnmatch import fnmatchcase

import pytest
import torch
from torch import nn

from sclib.models import ARCHITECTURES, PRETRAINED, build_model, count_parameters, mask_region
from sclib.models.head import OddOneOut
from sclib.models.language import minilm_path
from sclib.models.vision import efficientnet_weights_path

VISION = [a for a, d in ARCHITECTURES.items() if d == "vision"]
LANGUAGE = [a for a, d in ARCHITECTURES.items() if d == "language"]
PROBLEMS = [
    ["the dog runs .", "the dog near the cats runs .", "the dogs run .", "the dog sleeps ."],
    ["the author likes herself .", "the authors like themselves .", "a b", "c d e"],
]


def images(n_problems: int = 2, channels: int = 1, size: int = 48) -> torch.Tensor:
    return torch.rand(
        n_problems, 4, channels, size, size, generator=torch.Generator().manual_seed(0)
    )


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def matched(model: nn.Module, patterns: list[str]) -> dict[str, nn.Module]:
    return {n: m for n, m in model.named_modules() if any(fnmatchcase(n, p) for p in patterns)}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine more threads only contend."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def quick_models(one_thread) -> dict[tuple[str, bool], OddOneOut]:
    """Every architecture once, quick size, seed 0 (and pretrained where there is one)."""
    models = {(a, False): build_model(a) for a in ARCHITECTURES}
    models.update({(a, True): build_model(a, pretrained=True) for a in PRETRAINED})
    return models


# ----------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("arch", VISION)
def test_vision_forward_shapes(quick_models, arch):
    model = quick_models[arch, False]
    x = images()
    assert model(x).shape == (2, 4)
    emb = model.embedder(x.flatten(0, 1))
    assert emb.shape == (8, 64) and torch.isfinite(emb).all()
    assert isinstance(model.embedder.mlp.fc1, nn.Linear)
    assert model.embedder.mlp.fc2.out_features == 64


@pytest.mark.slow
@pytest.mark.parametrize("arch", VISION)
def test_vision_full_size_forward(arch):
    model = build_model(arch, size="full").eval()
    with torch.no_grad():
        emb = model.embedder(images(1).flatten(0, 1))
    assert emb.shape == (4, 128)  # the paper's MLP 2048-2048-128
    assert model.embedder.mlp.fc1.out_features == 2048


@pytest.mark.parametrize("arch, dim", [("bert_small", 512), ("minilm", 384)])
def test_language_forward_shapes(quick_models, arch, dim):
    model = quick_models[arch, False]
    assert model(PROBLEMS).shape == (2, 4)
    assert model.embedder(PROBLEMS[0]).shape == (4, dim)


def test_cls_vector_ignores_padding(quick_models):
    embedder = quick_models["minilm", True].embedder.eval()
    with torch.no_grad():
        alone = embedder(["the dog runs ."])
        padded = embedder(["the dog runs .", "the dog near the old cats in the house runs ."])
    torch.testing.assert_close(alone[0], padded[0], atol=1e-5, rtol=1e-4)


def test_instance_norm_keeps_images_independent(quick_models):
    embedder = quick_models["resnet", False].embedder
    x = images().flatten(0, 1)
    with torch.no_grad():
        torch.testing.assert_close(embedder(x[:1]), embedder(x)[:1], atol=1e-5, rtol=1e-4)


def test_vit_mean_pooling_and_patch_check():
    model = build_model("vit", pooling="mean", num_layers=1)
    assert model(images()).shape == (2, 4)
    with pytest.raises(ValueError, match="patch_size"):
        build_model("vit", image_size=50)


# ----------------------------------------------------------------------------- seeds
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_same_seed_same_weights(arch):
    first = build_model(arch, seed=3)
    assert same_weights(first, build_model(arch, seed=3))
    assert not same_weights(first, build_model(arch, seed=4))


def test_building_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_model("resnet", seed=7)
    torch.testing.assert_close(torch.rand(3), expected)


# ----------------------------------------------------------------------------- norms
@pytest.mark.parametrize("arch", ["resnet", "wide_resnet"])
@pytest.mark.parametrize("size", ["quick", "full"])
def test_resnet_instance_norm_no_batch_norm(arch, size):
    model = build_model(arch, size=size)
    norms = [m for m in model.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert norms and all(not m.affine for m in norms)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    assert all(hasattr(model.embedder.backbone, f"stage{s}") for s in range(1, 5))


def test_wide_resnet_is_wider(quick_models):
    narrow, wide = quick_models["resnet", False], quick_models["wide_resnet", False]
    assert count_parameters(wide) > 3 * count_parameters(narrow)
    assert wide.embedder.backbone.stage1[0].conv1.out_channels == 16


# ----------------------------------------------------------------------------- pretrained
def test_efficientnet_pretrained_weights_are_the_files():
    state = torch.load(efficientnet_weights_path(), map_location="cpu", weights_only=True)
    pre = build_model("efficientnet_lite0", pretrained=True).embedder.backbone
    rand = build_model("efficientnet_lite0").embedder.backbone
    for key in ["_conv_stem.weight", "_blocks.7._depthwise_conv.weight", "_bn1.running_var"]:
        assert torch.equal(pre.state_dict()[key], state[key])
        assert not torch.equal(rand.state_dict()[key], state[key])
    assert isinstance(pre._fc, nn.Identity)


def test_efficientnet_grey_equals_repeated_rgb(quick_models):
    model = quick_models["efficientnet_lite0", True].eval()
    x = images()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x.expand(-1, -1, 3, -1, -1)))


def test_minilm_pretrained_is_the_file_and_deterministic(quick_models):
    from safetensors.torch import load_file

    pre = quick_models["minilm", True]
    rand = quick_models["minilm", False]
    again = build_model("minilm", pretrained=True, seed=5)
    assert same_weights(pre, again)
    key = "encoder.layer.2.attention.self.query.weight"
    file_weight = load_file(minilm_path() / "model.safetensors")[key]
    assert torch.equal(pre.embedder.bert.state_dict()[key], file_weight)
    assert not torch.equal(rand.embedder.bert.state_dict()[key], file_weight)
    assert rand.embedder.bert.config.hidden_size == pre.embedder.bert.config.hidden_size


def test_minilm_num_layers_keeps_the_first_layers(quick_models):
    full = quick_models["minilm", True].embedder.bert
    short = build_model("minilm", pretrained=True, num_layers=4).embedder.bert
    assert len(short.encoder.layer) == 4 and short.config.num_hidden_layers == 4
    assert same_weights(short.encoder.layer[3], full.encoder.layer[3])


def test_dropout_is_zero(quick_models):
    for arch in LANGUAGE + ["vit"]:
        rates = [m.p for m in quick_models[arch, False].modules() if isinstance(m, nn.Dropout)]
        assert all(p == 0 for p in rates), arch


def test_loads_offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network blocked by test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for arch in PRETRAINED:
        build_model(arch, pretrained=True)
    build_model("bert_small")


def test_language_model_copies_and_saves(quick_models):
    model = quick_models["bert_small", False]
    clone = copy.deepcopy(model)
    assert same_weights(model, clone)
    assert clone(PROBLEMS).shape == (2, 4)
    assert not any("token" in k and "embeddings" not in k for k in model.state_dict())


# ----------------------------------------------------------------------------- mask regions
REGIONS = [(a, r) for a in VISION for r in ("all", "stage3+", "stage4")] + [
    (a, f"from_layer_{k}") for a in LANGUAGE for k in (0, 2, 3)
]


@pytest.mark.parametrize("arch, region", REGIONS)
def test_mask_region_matches_only_conv_and_linear(quick_models, arch, region):
    model = quick_models[arch, False]
    patterns = mask_region(arch, region)
    names = [n for n, _ in model.named_modules()]
    for p in patterns:
        assert any(fnmatchcase(n, p) for n in names), p
    found = matched(model, patterns)
    assert all(isinstance(m, (nn.Conv2d, nn.Linear)) for m in found.values())
    # ViT's patch projection is a conv on pixels, its stem: masked with "all" like ResNet's
    names = [n for n in found if not n.endswith("patch_embeddings.projection")]
    assert not any(w in n.lower() for n in names for w in ("norm", "embedding", "pooler", "bn"))
    if ARCHITECTURES[arch] == "vision":
        assert {"embedder.mlp.fc1", "embedder.mlp.fc2"} <= set(found)


@pytest.mark.parametrize(
    "arch, size", [(a, "quick") for a in VISION] + [("resnet", "full"), ("wide_resnet", "full")]
)
def test_vision_regions_nest_and_all_covers_every_weight(quick_models, arch, size):
    model = quick_models[arch, False] if size == "quick" else build_model(arch, size=size)
    names = [n for n, _ in model.named_modules()]
    regions = [mask_region(arch, r, size=size) for r in ("stage4", "stage3+", "all")]
    assert all(any(fnmatchcase(n, p) for n in names) for r in regions for p in r)
    sets = [set(matched(model, r)) for r in regions]
    assert sets[0] < sets[1] < sets[2]
    weights = {n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    assert sets[2] == weights


@pytest.mark.parametrize("arch, depth", [("bert_small", 4), ("minilm", 6)])
def test_language_regions_count_layers(quick_models, arch, depth):
    model = quick_models[arch, False]
    for k in (0, 2, 3):
        found = matched(model, mask_region(arch, f"from_layer_{k}"))
        assert len(found) == 6 * (depth - k)  # q, k, v, attention output, FFN in and out
        assert all(int(n.split(".")[4]) >= k for n in found)
    linears = {n for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    assert set(matched(model, mask_region(arch, "all"))) == linears


def test_mask_region_follows_depth():
    model = build_model("minilm", num_layers=4)
    found = matched(model, mask_region("minilm", "from_layer_2", num_layers=4))
    assert len(found) == 12
    vit = build_model("vit", num_layers=8)
    found = matched(vit, mask_region("vit", "stage4", num_layers=8))
    assert {n.split(".")[4] for n in found if ".layers." in n} == {"6", "7"}


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "call, bad, valid",
    [
        (lambda: build_model("resnet18"), "resnet18", "wide_resnet"),
        (lambda: build_model("resnet", pretrained=True), "resnet", "minilm"),
        (lambda: build_model("bert_small", pretrained=True), "bert_small", "minilm"),
        (lambda: build_model("resnet", size="huge"), "huge", "quick, full"),
        (lambda: build_model("minilm", num_layers=9), "9", "1..6"),
        (lambda: mask_region("resnet", "stage3"), "stage3", "all, stage3+, stage4"),
        (lambda: mask_region("bert_small", "from_layer_4"), "from_layer_4", "from_layer_3"),
        (lambda: mask_region("gpt2", "all"), "gpt2", "bert_small"),
        (lambda: mask_region("resnet", "all", size="tiny"), "tiny", "quick, full"),
    ],
)
def test_errors_name_the_bad_value_and_the_valid_ones(call, bad, valid):
    with pytest.raises(ValueError) as err:
        call()
    assert bad in str(err.value) and valid in str(err.value)


def test_count_parameters_trainable_only():
    model = build_model("resnet")
    total = count_parameters(model)
    assert total == sum(p.numel() for p in model.parameters())
    model.embedder.backbone.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == count_parameters(model.embedder.mlp)


@pytest.mark.parametrize("arch, region", [("resnet", "stage3+"), ("bert_small", "from_layer_2")])
def test_mask_region_works_with_add_masks(arch, region, recwarn):
    masks = pytest.importorskip("sclib.masks")
    model = build_model(arch)
    patterns = mask_region(arch, region)
    chosen = masks.add_masks(model, include=patterns)
    assert {k.removesuffix(".weight") for k in chosen} == set(matched(model, patterns))
    assert not [w for w in recwarn if "match no" in str(w.message)]
