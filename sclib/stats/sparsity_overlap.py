"""The overlap of two subroutines' masks in weight-sparse models (issue #16).

``sclib.experiments.sparsity_results.sparsity_overlap`` collects the per-layer overlaps of each base
model's two selected masks (``sclib.experiments.collect_masks.overlap_table``); here they
are pooled per base model and density, beside the chance overlap over the weights that
exist, and averaged per density for notebook 07 and ``sclib.stats.sparsity_verdict.trends``.
"""

from __future__ import annotations

import pandas as pd

OVERLAP_KEYS = ["domain", "task", "architecture", "regime", "variant", "weight_density"]


def pooled_overlap(layers: pd.DataFrame) -> pd.DataFrame:
    """Per base model and density, the overlap of its two subroutines' selected masks pooled
    over the masked layers: ``iou`` = summed intersections over summed unions, and
    ``random_iou``, what two random masks of the same sizes in the same layers would give
    on expectation (intersection ``a * b / n`` per layer of ``n`` weights keeping ``a`` and
    ``b``; ``n`` the layer's nonzero weights, ``support``, where given: a weight-sparse
    model's masks can keep no others), and their ratio ``iou_over_random`` (1: no more shared than chance).
    ``layers``: ``sclib.experiments.collect_masks.overlap_table`` rows with ``domain`` and
    ``weight_density``.

    >>> layers = pd.DataFrame({"domain": "vision", "task": "t", "architecture": "a",
    ...     "regime": "scratch", "variant": "none", "weight_density": 1.0, "base_seed": 0,
    ...     "size": [100, 100], "kept_a": [10, 20], "kept_b": [10, 20],
    ...     "intersection": [5, 10], "union": [15, 30]})
    >>> pooled_overlap(layers)[["iou", "random_iou"]].round(3).values.tolist()
    [[0.333, 0.091]]
    """
    if layers.empty:
        return pd.DataFrame()
    pool = layers["support"].fillna(layers["size"]) if "support" in layers else layers["size"]
    frame = layers.assign(_chance=layers["kept_a"] * layers["kept_b"] / pool)
    frame["_chance_union"] = frame["kept_a"] + frame["kept_b"] - frame["_chance"]
    sums = frame.groupby([*OVERLAP_KEYS, "base_seed"], sort=False)[
        ["intersection", "union", "_chance", "_chance_union"]
    ].sum()
    out = pd.DataFrame(
        {
            "iou": sums["intersection"] / sums["union"],
            "random_iou": sums["_chance"] / sums["_chance_union"],
        }
    )
    out["iou_over_random"] = out["iou"] / out["random_iou"]
    return out.reset_index()


def overlap_by_density(pooled: pd.DataFrame) -> pd.DataFrame:
    """``pooled_overlap``'s rows averaged over base seeds per cell and density: mean
    ``iou``, ``random_iou``, ``iou_over_random`` and the base models ``n``; densest first."""
    if pooled.empty:
        return pd.DataFrame()
    table = pooled.groupby(OVERLAP_KEYS, sort=False).agg(
        iou=("iou", "mean"),
        random_iou=("random_iou", "mean"),
        iou_over_random=("iou_over_random", "mean"),
        n=("base_seed", "nunique"),
    )
    return (
        table.reset_index()
        .sort_values(["domain", "weight_density"], ascending=[True, False], kind="stable")
        .reset_index(drop=True)
    )
