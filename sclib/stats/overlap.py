"""Where subnetworks live and how the masks of two subroutines overlap, per layer and region.

Used by ``notebooks/04_imperfect_decomposition.ipynb`` (Lepori et al., arXiv 2301.10884,
on imperfect decomposition: partial overlap of the two subroutines' masks), through
``sclib.experiments.collect_masks`` (``overlap_table`` and ``kept_table`` load the masks of runs
and hand them here) and ``sclib.plots.decomposition``. Everything here takes kept masks
(``MaskSet.kept()``) or the tables made of them; nothing trains or reads the cache.

Overlap is the per-layer intersection over union |A & B| / |A | B| (``sclib.masks.iou``),
always per layer and never pooled before dividing; a pooled figure per region is the
ratio of the summed intersections to the summed unions (:func:`overlap_by_region`).
Two ways to pick A and B (the ``method`` column of ``sclib.experiments.collect_masks`` tables):
``"single_mask"``, one selected mask per subroutine (:func:`mask_overlap`), and
``"intersect_seeds"``, the paper's way: each subroutine's masks intersected over its mask
seeds first (:func:`intersected_overlap`), which keeps only the weights every seed found.

>>> import torch
>>> a = {"embedder.mlp.fc1.weight": torch.tensor([True, True, False, False])}
>>> b = {"embedder.mlp.fc1.weight": torch.tensor([True, False, True, False])}
>>> mask_overlap(a, b)[["region", "intersection", "union", "iou"]].round(3).to_dict("records")
[{'region': 'mlp', 'intersection': 1, 'union': 3, 'iou': 0.333}]
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from torch import Tensor

from sclib.masks import MaskSet, iou
from sclib.stats.vocabulary import BASE_COLUMNS

# identifier columns of a pair of masks (a row of ``sclib.experiments.collect_masks.overlap_table``)
PAIR_COLUMNS = (
    "comparison",
    "method",
    "n_seeds_a",
    "n_seeds_b",
    *BASE_COLUMNS,
    "base_model_id",
    "subroutine_a",
    "subroutine_b",
    "mask_seed_a",
    "mask_seed_b",
    "masked_stages_a",
    "masked_stages_b",
    "profile",
)


# ------------------------------------------------------------------ where a layer sits


def layer_region(name: str) -> str:
    """A coarse region of the network for a masked weight's name, by the first rule that fits.

    1. a ``stage<k>`` component (ResNet): ``"stage<k>"``;
    2. ``layer.<k>`` or ``layers.<k>`` (BERT, MiniLM, ViT encoder layers): ``"layer.<k>"``;
    3. EfficientNet: ``_blocks.<b>`` -> the stage of block b (``sclib.models.vision.
       EFFICIENTNET_STAGES``), ``_conv_head`` -> ``"stage4"`` (as ``mask_region`` counts it);
    4. a stem (``stem_conv``, ``_conv_stem``, ViT's ``patch_embeddings``): ``"stem"``;
    5. a ``mlp`` component (the vision embedder's MLP head): ``"mlp"``;
    6. otherwise the module's name, without the tensor name and a leading ``embedder.``.

    >>> layer_region("embedder.backbone.stage3.0.conv1.weight")
    'stage3'
    >>> layer_region("embedder.bert.encoder.layer.2.attention.self.query.weight")
    'layer.2'
    >>> layer_region("embedder.mlp.fc1.weight"), layer_region("embedder.fc1.weight")
    ('mlp', 'fc1')
    """
    parts = name.split(".")
    for part in parts:
        if re.fullmatch(r"stage\d+", part):
            return part
    for part, nxt in itertools.pairwise(parts):
        if part in ("layer", "layers") and nxt.isdigit():
            return f"layer.{nxt}"
    if "_blocks" in parts and parts.index("_blocks") + 1 < len(parts):
        from sclib.models.vision import EFFICIENTNET_STAGES

        block = int(parts[parts.index("_blocks") + 1])
        return next(f"stage{s}" for s, r in EFFICIENTNET_STAGES.items() if block in r)
    if "_conv_head" in parts:
        return "stage4"
    if {"stem_conv", "_conv_stem", "patch_embeddings"} & set(parts):
        return "stem"
    if "mlp" in parts:
        return "mlp"
    module = parts[:-1] if len(parts) > 1 else parts
    return ".".join(module[1:] if module[0] == "embedder" and len(module) > 1 else module)


def as_kept(kept: Mapping[str, Tensor] | MaskSet) -> dict[str, Tensor]:
    """Name -> boolean tensor of kept weights, from a MaskSet (``MaskSet.kept()``) or a mapping."""
    return kept.kept() if isinstance(kept, MaskSet) else dict(kept)


def kept_by_layer(kept: Mapping[str, Tensor] | MaskSet) -> pd.DataFrame:
    """Where a subnetwork lives: one row per masked weight, in network order.

    Network order is the order of ``kept`` (``MaskSet.kept()`` lists weights in the order of
    ``model.named_modules()``, input to output). Group by ``region`` for a coarser picture.

    Args:
        kept: name -> boolean tensor (``MaskSet.kept()``), or the MaskSet itself.

    Returns:
        Columns ``position`` (0 = nearest the input), ``layer``, ``region``, ``size``,
        ``kept`` (count) and ``fraction``.
    """
    rows = [
        {
            "position": i,
            "layer": name,
            "region": layer_region(name),
            "size": k.numel(),
            "kept": int(k.sum()),
            "fraction": float(k.float().mean()) if k.numel() else float("nan"),
        }
        for i, (name, k) in enumerate(as_kept(kept).items())
    ]
    return pd.DataFrame(rows, columns=["position", "layer", "region", "size", "kept", "fraction"])


# ------------------------------------------------------------------------- overlap


def expected_random_iou(size: int, kept_a: int, kept_b: int) -> float:
    """IoU of two independent random subsets of a layer, as E|A & B| / E|A | B|.

    With ``p = kept_a / size``, ``q = kept_b / size``: ``pq / (p + q - pq)``, the ratio of the
    expected intersection to the expected union; the mean IoU of random draws tends to it as
    layers grow. nan where both sets are empty.

    >>> round(expected_random_iou(1000, 100, 100), 4)  # 0.01 / 0.19
    0.0526
    """
    if kept_a + kept_b == 0:
        return float("nan")
    inter = kept_a * kept_b / size
    return inter / (kept_a + kept_b - inter)


def _random_iou(
    rng: np.random.Generator, size: int, ka: int, kb: int, n_random: int, tail: float
) -> tuple[float, float, float]:
    """Mean and ``tail``-percentile interval of the IoU of ``n_random`` size-matched random pairs."""
    inter = rng.hypergeometric(ka, size - ka, kb, size=n_random) if size else np.zeros(0)
    union = ka + kb - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        random_ious = np.where(union > 0, inter / union, np.nan)
    if ka + kb == 0 or n_random == 0:
        return float("nan"), float("nan"), float("nan")
    rlow, rhigh = (float(x) for x in np.percentile(random_ious, [tail, 100 - tail]))
    return float(random_ious.mean()), rlow, rhigh


def mask_overlap(
    kept_a: Mapping[str, Tensor] | MaskSet,
    kept_b: Mapping[str, Tensor] | MaskSet,
    seed: int = 0,
    n_random: int = 20,
    ci: float = 0.95,
) -> pd.DataFrame:
    """Per-layer IoU of two subnetworks of one base model, beside size-matched random masks.

    The random baseline draws ``n_random`` pairs of random masks with the same kept counts
    per layer as A and B. Their intersection is drawn directly from its distribution,
    hypergeometric(size, kept_a, kept_b), which is exactly the intersection of two uniform
    random subsets of those sizes, at no cost for large layers.

    Args:
        kept_a, kept_b: name -> boolean tensor (``MaskSet.kept()``) or MaskSets; same names
            and shapes (``sclib.masks.iou`` says which differ).
        seed: seeds the random draws; the same seed gives the same table.
        n_random: random mask pairs per layer.
        ci: width of the interval over the random draws (percentiles).

    Returns:
        One row per layer in network order: ``position``, ``layer``, ``region``
        (:func:`layer_region`), ``size``, ``kept_a``, ``kept_b``, ``intersection``, ``union``,
        ``iou`` (nan where both are empty), ``random_iou_mean``, ``random_iou_low``,
        ``random_iou_high``, ``expected_iou`` (:func:`expected_random_iou`) and
        ``iou_over_random`` (``iou / random_iou_mean``).
    """
    kept_a, kept_b = as_kept(kept_a), as_kept(kept_b)
    ious = iou(kept_a, kept_b)  # checks names and shapes
    rng = np.random.default_rng(seed)
    tail = (1 - ci) / 2 * 100
    rows = []
    for i, (name, a) in enumerate(kept_a.items()):
        a, b = a.bool(), kept_b[name].bool()
        size, ka, kb = a.numel(), int(a.sum()), int(b.sum())
        rmean, rlow, rhigh = _random_iou(rng, size, ka, kb, n_random, tail)
        rows.append(
            {
                "position": i,
                "layer": name,
                "region": layer_region(name),
                "size": size,
                "kept_a": ka,
                "kept_b": kb,
                "intersection": int((a & b).sum()),
                "union": int((a | b).sum()),
                "iou": ious[name],
                "random_iou_mean": rmean,
                "random_iou_low": rlow,
                "random_iou_high": rhigh,
                "expected_iou": expected_random_iou(size, ka, kb),
                "iou_over_random": ious[name] / rmean if rmean > 0 else np.nan,
            }
        )
    return pd.DataFrame(rows)


def intersect_seeds(kept_by_seed: Sequence[Mapping[str, Tensor] | MaskSet]) -> dict[str, Tensor]:
    """The weights kept by every mask of a list (one subroutine's masks over mask seeds).

    >>> import torch
    >>> seeds = [{"w": torch.tensor([1, 1, 0]).bool()}, {"w": torch.tensor([1, 0, 1]).bool()}]
    >>> intersect_seeds(seeds)["w"].tolist()
    [True, False, False]
    """
    masks = [as_kept(k) for k in kept_by_seed]
    if not masks:
        raise ValueError("no masks to intersect; give one mask per mask seed (at least one)")
    out = {name: k.bool().clone() for name, k in masks[0].items()}
    for i, kept in enumerate(masks[1:], start=1):
        if set(kept) != set(out):
            raise ValueError(
                f"mask {i} covers other layers than mask 0: {sorted(set(kept) ^ set(out))} "
                "are in only one; give masks of one region"
            )
        for name, k in kept.items():
            if k.shape != out[name].shape:
                raise ValueError(
                    f"layer {name!r}: shapes {tuple(k.shape)} and {tuple(out[name].shape)} differ"
                )
            out[name] &= k.bool()
    return out


def intersected_overlap(
    kept_by_seed_a: Sequence[Mapping[str, Tensor] | MaskSet],
    kept_by_seed_b: Sequence[Mapping[str, Tensor] | MaskSet],
    seed: int = 0,
    n_random: int = 20,
    ci: float = 0.95,
) -> pd.DataFrame:
    """Per-layer IoU of two subroutines' masks the paper's way: seeds intersected first.

    The authors' overlap intersects each subroutine's masks over its 3 mask seeds, then
    takes the per-layer IoU of the two intersections (arXiv 2301.10884). An
    intersection keeps fewer weights than any one mask, so its IoU is not comparable to
    :func:`mask_overlap` of single masks; the random baseline here is size-matched to the
    intersections (same kept count per layer as each intersection).

    Args:
        kept_by_seed_a, kept_by_seed_b: each subroutine's kept masks, one per mask seed
            (``MaskSet.kept()`` or MaskSets), all of the same layers.
        seed, n_random, ci: as in :func:`mask_overlap`.

    Returns:
        :func:`mask_overlap`'s table of the two intersections, with ``n_seeds_a`` and
        ``n_seeds_b`` in front.

    >>> import torch
    >>> a = [{"w": torch.tensor([1, 1, 1, 0]).bool()}, {"w": torch.tensor([1, 1, 0, 0]).bool()}]
    >>> b = [{"w": torch.tensor([0, 1, 1, 1]).bool()}, {"w": torch.tensor([0, 1, 0, 1]).bool()}]
    >>> intersected_overlap(a, b)[["n_seeds_a", "kept_a", "kept_b", "iou"]].round(3).to_dict("records")
    [{'n_seeds_a': 2, 'kept_a': 2, 'kept_b': 2, 'iou': 0.333}]
    """
    table = mask_overlap(
        intersect_seeds(kept_by_seed_a), intersect_seeds(kept_by_seed_b), seed, n_random, ci
    )
    table.insert(0, "n_seeds_b", len(kept_by_seed_b))
    table.insert(0, "n_seeds_a", len(kept_by_seed_a))
    return table


def overlap_by_region(overlap: pd.DataFrame) -> pd.DataFrame:
    """Pooled IoU per region (and per any identifier columns of ``overlap``).

    Pooled IoU = summed intersections / summed unions over the region's layers (a ratio of
    sums, not a mean of per-layer IoUs); ``expected_iou`` pools the random expectation
    the same way (summed E|A & B| over summed E|A | B|).
    """
    df = overlap.assign(
        expected_intersection=overlap["kept_a"] * overlap["kept_b"] / overlap["size"]
    )
    df["expected_union"] = df["kept_a"] + df["kept_b"] - df["expected_intersection"]
    ids = [c for c in overlap.columns if c in PAIR_COLUMNS]
    keys = [*ids, "region"]
    out = (
        df.groupby(keys, sort=False, dropna=False)
        .agg(
            position=("position", "min"),
            n_layers=("layer", "size"),
            size=("size", "sum"),
            kept_a=("kept_a", "sum"),
            kept_b=("kept_b", "sum"),
            intersection=("intersection", "sum"),
            union=("union", "sum"),
            expected_intersection=("expected_intersection", "sum"),
            expected_union=("expected_union", "sum"),
        )
        .reset_index()
    )
    out["iou"] = out["intersection"] / out["union"].where(out["union"] > 0)
    out["expected_iou"] = out["expected_intersection"] / out["expected_union"].where(
        out["expected_union"] > 0
    )
    return out.drop(columns=["expected_intersection", "expected_union"])
