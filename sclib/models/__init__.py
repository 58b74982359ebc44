"""The models: an embedder per architecture under the shared odd-one-out head.

``build_model(arch)`` gives an ``OddOneOut`` model; ``mask_region(arch, region)`` the
module-name patterns of the paper's masked regions for ``sclib.masks.add_masks``.

>>> import torch
>>> model = build_model("resnet", seed=0)
>>> model(torch.rand(2, 4, 1, 48, 48)).shape
torch.Size([2, 4])
>>> mask_region("resnet", "stage4")
['embedder.backbone.stage4.*.conv[123]', 'embedder.backbone.stage4.0.shortcut_conv', 'embedder.mlp.fc[12]']
>>> mask_region("bert_small", "from_layer_3")[-1]
'embedder.bert.encoder.layer.3.*.dense'
"""

from __future__ import annotations

from typing import Any

from torch import nn

from sclib.models.head import OddOneOut
from sclib.models.language import build_language_embedder
from sclib.models.vision import (
    EFFICIENTNET_STAGES,
    RESNET_CONFIGS,
    RESNET_SIZES,
    SIZES,
    VIT_SIZES,
    build_vision_embedder,
)

# architecture -> domain (the kind of item it embeds)
ARCHITECTURES: dict[str, str] = {
    "resnet": "vision",
    "wide_resnet": "vision",
    "vit": "vision",
    "efficientnet_lite0": "vision",
    "bert_small": "language",
    "minilm": "language",
}
# architectures with real pretrained weights (shipped in installed packages)
PRETRAINED: tuple[str, ...] = ("efficientnet_lite0", "minilm")
VISION_REGIONS = ("all", "stage3+", "stage4")
LANGUAGE_DEPTH = {"bert_small": 4, "minilm": 6}
# Patterns name whole modules (they end where the module name ends), so they still select the
# same modules once masks have added ``.parametrizations`` children.
BERT_LINEARS = ("attention.self.query", "attention.self.key", "attention.self.value", "*.dense")


def _check(arch: str, size: str) -> str:
    """The domain of ``arch``, after checking ``arch`` and ``size``."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown arch {arch!r}; choose one of: {', '.join(ARCHITECTURES)}")
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of: {', '.join(SIZES)}")
    return ARCHITECTURES[arch]


def build_model(
    arch: str, *, pretrained: bool = False, seed: int = 0, size: str = "quick", **kwargs: Any
) -> OddOneOut:
    """An odd-one-out model; the same ``seed`` gives identical weights.

    Args:
        arch: a key of ``ARCHITECTURES``.
        pretrained: start from real pretrained weights (only the archs in ``PRETRAINED``).
        seed: seeds every random initialisation (the global RNG is left as it was).
        size: ``"quick"`` or ``"full"`` (vision; language models have one size each).
        **kwargs: passed on to ``build_vision_embedder`` (e.g. ``image_size``,
            ``embed_dim``) or ``build_language_embedder`` (``num_layers``, ``max_length``).
    """
    domain = _check(arch, size)
    if pretrained and arch not in PRETRAINED:
        raise ValueError(
            f"no pretrained weights for {arch!r}; pretrained=True needs one of: "
            f"{', '.join(PRETRAINED)}"
        )
    if domain == "vision":
        embedder: nn.Module = build_vision_embedder(
            arch, size=size, pretrained=pretrained, seed=seed, **kwargs
        )
    else:
        embedder = build_language_embedder(arch, pretrained=pretrained, seed=seed, **kwargs)
    return OddOneOut(embedder)


def _stages(region: str) -> range:
    return {"all": range(1, 5), "stage3+": range(3, 5), "stage4": range(4, 5)}[region]


def mask_region(
    arch: str, region: str, *, size: str = "quick", num_layers: int | None = None
) -> list[str]:
    """Module-name glob patterns (``fnmatch``, relative to the ``OddOneOut`` model) of a masked region.

    Only conv and linear modules match; never norms, token embeddings or poolers.
    Vision regions (the paper's): ``"all"`` layers, ``"stage3+"`` (stages 3-4), ``"stage4"``;
    the MLP head is always included. EfficientNet's blocks are split into 4 stages by
    resolution (stage3 = /16: blocks 5-10; stage4 = /32: blocks 11-15 and the head conv),
    ViT's layers into 4 quarters by depth; ViT's patch projection (its stem conv) is in
    ``"all"``, as ResNet's stem is. Language: ``"from_layer_<k>"`` masks the attention
    (query, key, value, output) and feed-forward weights of encoder layers k and above
    (the paper's k: 0, 2, 3); ``"all"`` is ``"from_layer_0"``.

    Args:
        size, num_layers: as given to ``build_model`` (they set ViT's and BERT's depth).
    """
    if _check(arch, size) == "vision":
        return _vision_region(arch, region, size, num_layers)
    return _language_region(arch, region, num_layers)


def _vision_region(arch: str, region: str, size: str, num_layers: int | None) -> list[str]:
    if region not in VISION_REGIONS:
        raise ValueError(
            f"unknown region {region!r} for {arch!r}; choose one of: {', '.join(VISION_REGIONS)}"
        )
    stages = _stages(region)
    if arch in ("resnet", "wide_resnet"):
        first = ["embedder.backbone.stem_conv"] if region == "all" else []
        # the first block of a stage has a 1x1 shortcut conv, except stage 1 of basic
        # blocks (its widths equal the stem's)
        bottleneck = RESNET_CONFIGS[RESNET_SIZES[arch, size]].block == "bottleneck"
        convs = [
            pattern
            for s in stages
            for pattern in [f"embedder.backbone.stage{s}.*.conv[123]"]
            + [f"embedder.backbone.stage{s}.0.shortcut_conv"] * (s > 1 or bottleneck)
        ]
    elif arch == "efficientnet_lite0":
        first = ["embedder.backbone._conv_stem"] if region == "all" else []
        blocks = [b for s in stages for b in EFFICIENTNET_STAGES[s]]
        convs = [f"embedder.backbone._blocks.{b}._*_conv" for b in blocks]
        convs.append("embedder.backbone._conv_head")
    else:  # vit: stage s = the s-th quarter of the layers
        depth = num_layers or VIT_SIZES[size][1]
        first = ["embedder.backbone.vit.embeddings.patch_embeddings.projection"]
        first = first if region == "all" else []
        start = (stages[0] - 1) * depth // 4
        convs = [
            f"embedder.backbone.vit.layers.{k}.{part}"
            for k in range(start, depth)
            for part in ("attention.*_proj", "mlp.fc[12]")
        ]
    return first + convs + ["embedder.mlp.fc[12]"]


def _language_region(arch: str, region: str, num_layers: int | None) -> list[str]:
    depth = num_layers or LANGUAGE_DEPTH[arch]
    valid = ["all"] + [f"from_layer_{k}" for k in range(depth)]
    if region not in valid:
        raise ValueError(
            f"unknown region {region!r} for {arch!r} with {depth} layers; "
            f"choose one of: {', '.join(valid)}"
        )
    start = 0 if region == "all" else int(region.removeprefix("from_layer_"))
    return [
        f"embedder.bert.encoder.layer.{k}.{part}"
        for k in range(start, depth)
        for part in BERT_LINEARS
    ]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (only those with ``requires_grad`` if ``trainable_only``).

    >>> count_parameters(nn.Linear(3, 2))
    8
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
