"""SimCLR pretraining of a vision backbone on the task images (arXiv 2301.10884, its models).

The paper pretrained ResNet50 with SimCLR on the images of its own three tasks
(temperature 0.07, AdamW lr 5e-4 with a cosine schedule, batch 128, 100 epochs) and
then fine-tuned it on each task. Here ``task_images`` pools the images, ``simclr_augment``
draws two random views of each (plain torch, batched, seeded by a ``torch.Generator``),
``nt_xent`` is the contrastive loss, and ``pretrain_simclr`` trains the embedder's
``backbone`` through a projection head that it creates and then discards; the embedder's
own ``mlp`` is left for fine-tuning. The result depends only on the embedder's initial
weights, the images and the config, so a runner can cache it under (build seed, data
parameters, config). Used by notebooks/03_pretrained_vs_random.ipynb.

>>> from sclib.models.vision import build_vision_embedder
>>> embedder = build_vision_embedder("resnet", seed=0)
>>> images = torch.rand(8, 1, 16, 16)
>>> config = SimCLRConfig(epochs=1, batch_size=4, progress=False, device="cpu")
>>> history = pretrain_simclr(embedder, images, config)
>>> history["steps"], len(history["loss"])
(2, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sclib.pretrain.loop import cosine_adamw, run_pretraining
from sclib.runtime import resolve_device, seeded, training_mode
from sclib.tasks.vision import DEFAULT_CACHE_DIR, VisionTask, augment_images
from sclib.train import check_training_args


# ----------------------------------------------------------------------------- data
def task_images(
    tasks: Sequence[str],
    image_size: int = 48,
    n_per_task: int = 1000,
    seed: int = 0,
    cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
) -> torch.Tensor:
    """Every image of the first ``n_per_task`` compositional *training* problems of each task.

    The paper's SimCLR set: the images of the tasks themselves, train split only (never a
    test image). With the ``seed`` and ``image_size`` of the base models' data and
    ``n_per_task`` equal to their training-set size, these are exactly the images the base
    models are fine-tuned on (and the cached datasets are reused).

    Returns:
        float tensor (len(tasks) * n_per_task * 4, 1, image_size, image_size) in {0, 1}.
    """
    if not tasks:
        raise ValueError("tasks is empty; give one or more of the vision tasks")
    images = []
    for name in tasks:
        task = VisionTask(name, image_size=image_size, seed=seed, cache_dir=cache_dir)
        items = task.dataset("compositional", "train", n_per_task).items
        images.append(items.reshape(-1, *items.shape[2:]))
    return torch.cat(images)


# ----------------------------------------------------------------------------- views
@dataclass(frozen=True)
class Augmentation:
    """How SimCLR's random views are drawn. Defaults follow the paper's torchvision pipeline
    (flip; affine with p 0.5: 30 degrees, translate 0.05, scale 0.9-1, shear 20; contrast
    jitter 0.5 with p 0.5; rotation), for grey images: no saturation, no grayscale.

    Attributes:
        dihedral: flips and rotations by multiples of 90 degrees (exact, lossless).
        affine_prob: chance of the small affine warp (bilinear, zeros outside).
        max_angle, max_shear: degrees, drawn uniformly in [-max, max].
        scale: range of the magnification (< 1 shrinks the image).
        translate: largest shift, as a fraction of the image side.
        jitter_prob: chance of the brightness/contrast jitter.
        brightness, contrast: factors drawn in [1 - b, 1 + b] (brightness scales the
            pixels; contrast scales their distance from the image mean).
    """

    dihedral: bool = True
    affine_prob: float = 0.5
    max_angle: float = 30.0
    max_shear: float = 20.0
    scale: tuple[float, float] = (0.9, 1.0)
    translate: float = 0.05
    jitter_prob: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.5

    def __post_init__(self) -> None:
        for name in ("affine_prob", "jitter_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        if not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"scale must be (low, high) with 0 < low <= high, got {self.scale!r}")
        for name in ("brightness", "contrast"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def simclr_augment(
    images: torch.Tensor,
    generator: torch.Generator | None = None,
    augmentation: Augmentation | None = None,
) -> torch.Tensor:
    """One random view of every image of a batch (N, C, H, W), each drawn independently.

    Every random number comes from ``generator`` (on the CPU), so the same generator state
    gives the same views on any device. ``augmentation`` defaults to ``Augmentation()``.

    >>> x = torch.rand(3, 1, 8, 8)
    >>> a = simclr_augment(x, torch.Generator().manual_seed(0))
    >>> b = simclr_augment(x, torch.Generator().manual_seed(0))
    >>> a.shape, torch.equal(a, b), bool((a >= 0).all() and (a <= 1).all())
    (torch.Size([3, 1, 8, 8]), True, True)
    """
    aug = augmentation if augmentation is not None else Augmentation()
    n, device = images.shape[0], images.device
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    out = augment_images(images[:, None], generator)[:, 0] if aug.dihedral else images
    # affine warp: theta maps output to input coordinates (normalised to [-1, 1])
    warp = torch.rand(n, generator=generator) < aug.affine_prob
    angle = torch.deg2rad(_uniform(n, -aug.max_angle, aug.max_angle, generator))
    shear = torch.deg2rad(_uniform(n, -aug.max_shear, aug.max_shear, generator))
    scale = _uniform(n, *aug.scale, generator)
    shift = _uniform(2 * n, -2 * aug.translate, 2 * aug.translate, generator).reshape(n, 2)
    if warp.any():
        cos, sin, tan = angle.cos(), angle.sin(), shear.tan()
        rot = torch.stack([cos, -sin, sin, cos], 1).reshape(n, 2, 2)
        shear_m = torch.stack([torch.ones(n), tan, torch.zeros(n), torch.ones(n)], 1)
        linear = (rot @ shear_m.reshape(n, 2, 2)) / scale[:, None, None]
        theta = torch.cat([linear, shift[:, :, None]], dim=2)
        theta[~warp] = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        grid = F.affine_grid(theta.to(device, out.dtype), list(out.shape), align_corners=False)
        warped = F.grid_sample(
            out, grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )
        out = torch.where(warp.to(device)[:, None, None, None], warped, out)
    # brightness / contrast jitter, then clamp to [0, 1]
    jitter = torch.rand(n, generator=generator) < aug.jitter_prob
    gain = _uniform(n, 1 - aug.brightness, 1 + aug.brightness, generator)
    contrast = _uniform(n, 1 - aug.contrast, 1 + aug.contrast, generator)
    gain, contrast = (torch.where(jitter, v, torch.ones(n)) for v in (gain, contrast))
    gain, contrast = (v.to(device, out.dtype)[:, None, None, None] for v in (gain, contrast))
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    return (((out - mean) * contrast + mean) * gain).clamp(0.0, 1.0)


# ----------------------------------------------------------------------------- loss
def nt_xent(
    z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.07
) -> tuple[torch.Tensor, torch.Tensor]:
    """SimCLR's NT-Xent loss of two views (N, D) of the same N items, and top-1 accuracy.

    Each of the 2N embeddings (L2-normalised) must pick out its partner among the other
    2N - 1 by cosine similarity / temperature; the loss is the mean cross-entropy, the
    accuracy the fraction whose nearest neighbour is the partner.

    >>> z = torch.eye(2)
    >>> loss, acc = nt_xent(z, z, temperature=1.0)
    >>> round(loss.item(), 4), acc.item()  # -log(e / (e + 1 + 1))
    (0.5514, 1.0)
    """
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(
            f"z1 and z2 must both be (N, D), got {tuple(z1.shape)} and {tuple(z2.shape)}"
        )
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = (z @ z.T) / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    loss = F.cross_entropy(sim, partner)
    accuracy = (sim.argmax(dim=1) == partner).float().mean()
    return loss, accuracy


# ----------------------------------------------------------------------------- training
@dataclass(frozen=True)
class SimCLRConfig:
    """How to pretrain a backbone with SimCLR (``pretrain_simclr``); defaults are the paper's.

    Attributes:
        epochs: passes over the images (paper: 100).
        batch_size: images per step, two views each (paper: 128).
        lr: AdamW learning rate (paper: 5e-4), cosine-annealed to ``lr * min_lr_ratio``
            over all steps (paper: to lr / 50).
        weight_decay: AdamW weight decay (paper: 0).
        temperature: NT-Xent temperature (paper: 0.07).
        projection_dim, projection_hidden: the projection head Linear-ReLU-Linear, from the
            backbone's features through ``projection_hidden`` (None: as many as the
            backbone's features) to ``projection_dim``; discarded after training.
        augmentation: how the views are drawn.
        max_steps: stop after this many steps (None: no limit); the schedule spans them.
        seed: seeds the head, the image order and the views.
        device: ``"auto"``, ``"cpu"``, ``"cuda[:N]"`` or ``"mps"``.
        progress: show a tqdm progress bar.
    """

    epochs: int = 100
    batch_size: int = 128
    lr: float = 5e-4
    min_lr_ratio: float = 1 / 50
    weight_decay: float = 0.0
    temperature: float = 0.07
    projection_dim: int = 128
    projection_hidden: int | None = None
    augmentation: Augmentation = field(default_factory=Augmentation)
    max_steps: int | None = None
    seed: int = 0
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        check_training_args(self.epochs, self.batch_size, self.lr, self.device, self.max_steps)
        if self.batch_size < 2:
            raise ValueError(
                f"batch_size must be >= 2 for a contrastive loss, got {self.batch_size}"
            )
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}")
        if self.weight_decay < 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(
                f"weight_decay must be >= 0 and min_lr_ratio in [0, 1], got "
                f"{self.weight_decay!r}, {self.min_lr_ratio!r}"
            )


def _projection_head(features: int, config: SimCLRConfig) -> nn.Module:
    """SimCLR's projection head: Linear - ReLU - Linear, as ``config`` sizes it."""
    hidden = config.projection_hidden or features
    return nn.Sequential(
        nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, config.projection_dim)
    )


def pretrain_simclr(
    embedder: nn.Module, images: torch.Tensor, config: SimCLRConfig
) -> dict[str, Any]:
    """Pretrain ``embedder.backbone`` (after ``embedder.preprocess``, if any) with SimCLR.

    A projection head (seeded by ``config.seed``) is trained with the backbone and then
    discarded; ``embedder.mlp`` is not touched. The embedder is moved to the device and
    left there, its train/eval modes restored. Every random choice comes from
    ``config.seed``: the same seed, embedder weights and images give the same weights.

    Args:
        embedder: a ``VisionEmbedder`` (anything with ``backbone`` and ``out_features``).
        images: float tensor (N, C, H, W) in [0, 1], e.g. ``task_images(...)``.
        config: see ``SimCLRConfig``.

    Returns:
        A history: per epoch ``epoch``, ``loss``, ``top1`` (contrastive accuracy), ``lr``;
        and ``steps``, ``n_images``.
    """
    if images.dim() != 4 or images.shape[0] < 2:
        raise ValueError(f"images must be (N >= 2, C, H, W), got {tuple(images.shape)}")
    device = resolve_device(config.device)
    embedder.to(device)
    backbone = embedder.backbone
    preprocess = getattr(embedder, "preprocess", nn.Identity())
    with seeded(config.seed):
        head = _projection_head(backbone.out_features, config).to(device)
    g_order = torch.Generator().manual_seed(config.seed * 2)
    g_views = torch.Generator().manual_seed(config.seed * 2 + 1)
    n = images.shape[0]
    batch = min(config.batch_size, n)
    params = list(backbone.parameters()) + list(head.parameters())

    def step(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = images[rows]
        views = torch.cat([simclr_augment(x, g_views, config.augmentation) for _ in "ab"])
        z = head(backbone(preprocess(views.to(device))))
        return nt_xent(*z.chunk(2), temperature=config.temperature)

    def make_optimizer(total: int) -> tuple[torch.optim.Optimizer, Any]:
        return cosine_adamw(params, config.lr, config.weight_decay, total, config.min_lr_ratio)

    with seeded(config.seed, device), training_mode(embedder, True):
        history = run_pretraining(
            step,
            make_optimizer,
            config,
            n=n,
            batch=batch,
            drop_last=True,  # contrastive batches: no partial last batch
            g_order=g_order,
            metric="top1",
            desc="simclr",
        )
    history["n_images"] = n
    return history
