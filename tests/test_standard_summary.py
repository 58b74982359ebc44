"""The README's table of the committed standard runs (sclib.stats.standard_summary)."""

from __future__ import annotations

import pandas as pd
import pytest

from sclib.paths import ROOT
from sclib.readme_blocks import read_block, replace_block
from sclib.stats.standard_summary import (
    README_END,
    README_START,
    committed_summary,
    intersected_iou,
    readme_body,
    regime_contrasts,
    standard_summary,
    summary_markdown,
)


def _runs() -> pd.DataFrame:
    """Inside-Contact from scratch: seed 2 fails its base model, spare 3 stands in; seed 0
    has two mask seeds (both enter the mean); the untrained twin of seed 2 is excluded."""
    rows = []
    for regime, seed, mask_seed, base_acc, excluded, reason in [
        ("scratch", 0, 0, 1.0, False, ""),
        ("scratch", 0, 1, 1.0, False, ""),
        ("scratch", 1, 0, 0.99, False, ""),
        ("scratch", 2, 0, 0.756, True, "base model below the exclusion threshold"),
        ("scratch", 3, 0, 0.98, False, ""),
        ("untrained", 0, 0, 0.25, False, ""),
        ("untrained", 2, 0, 0.25, True, "its trained twin's base seed is not included"),
    ]:
        for sub, other in (("inside", "contact"), ("contact", "inside")):
            trained = regime == "scratch"
            ablation = -0.3 + 0.05 * seed + 0.01 * mask_seed if trained else 0.0
            rows.append({
                "domain": "vision", "task": "inside_contact", "architecture": "resnet",
                "subroutine": sub, "other_subroutine": other, "regime": regime,
                "variant": "none", "base_seed": seed, "mask_seed": mask_seed,
                "base_model_id": f"{regime}-{seed}", "profile": "standard",
                "pretraining": "none", "base_comp_test_acc": base_acc,
                "subnetwork_score": 0.6 + 0.1 * seed if trained else 0.0,
                "ablation_score": ablation, "zero_abl_acc_target": 0.6 + ablation,
                "zero_abl_acc_other": 0.6,
                "sampled_ablation_score": 0.0, "sub_l0_fraction": 0.01,
                "excluded": excluded, "exclusion_reason": reason,
            })  # fmt: skip
    return pd.DataFrame(rows)


def test_a_cell_names_its_seeds_and_its_exclusions():
    table = standard_summary(_runs())
    assert list(table["regime"]) == ["scratch", "untrained"]
    scratch, untrained = table.iloc[0], table.iloc[1]
    assert scratch["included"] == "0, 1, 3"
    assert scratch["excluded"] == "2 (base 0.756)"
    assert untrained["excluded"] == "2 (twin)"
    assert scratch["subroutines"] == "Inside / Contact"
    assert scratch["runs"] == "4 / 4"  # seed 0's two mask seeds, seeds 1 and 3
    mean = (-0.3 - 0.29 - 0.25 - 0.15) / 4
    assert scratch["ablation (p)"].startswith(f"{mean:+.2f} (p ")
    assert untrained["ablation (p)"] == "+0.00 (se 0) / +0.00 (se 0)"
    contrasts = regime_contrasts(_runs())
    assert len(contrasts) == 1 and contrasts.iloc[0]["pretrained - scratch"] == "n/a / n/a"
    # untrained minus scratch: 0 minus the scratch mean, over 1 + 3 base models
    assert contrasts.iloc[0]["untrained - scratch"].startswith(f"{-mean:+.2f}")
    text = summary_markdown(table, 14, contrasts)
    assert text.startswith("14 runs in ") and text.count("\n| Inside-Contact") == 3


def test_an_empty_table_is_refused():
    with pytest.raises(ValueError, match="no runs"):
        standard_summary(_runs().iloc[:0])


def test_the_readme_block_is_the_committed_standard_table(tmp_path):
    """README.md carries the table computed from data/results/standard/runs.csv; rewrite it
    with `python -m sclib.stats.standard_summary` after collecting a chunk."""
    text = (ROOT / "README.md").read_text()
    assert read_block(text, README_START, README_END) == readme_body(committed_summary())
    stale = tmp_path / "README.md"
    stale.write_text(f"intro\n{README_START}\nold\n{README_END}\nrest\n")
    assert replace_block(stale, README_START, README_END, readme_body(None))
    assert "not committed yet" in stale.read_text() and stale.read_text().endswith("rest\n")


def test_the_papers_overlap_is_pooled_per_region_then_over_base_models():
    """``intersected_iou``: per base model, summed intersections over summed unions of a
    region's layers; then the mean (min-max) over base models; single-mask rows ignored."""
    rows = []
    for base, (inter, union) in {"b0": (1, 10), "b1": (3, 10)}.items():
        for layer, region in ((0, "conv"), (1, "conv"), (2, "mlp")):
            rows.append({
                "comparison": "subroutines", "method": "intersect_seeds",
                "n_seeds_a": 3, "n_seeds_b": 3, "task": "inside_contact",
                "architecture": "resnet", "regime": "scratch", "variant": "none",
                "base_seed": int(base[1]), "base_model_id": base, "position": layer,
                "layer": f"l{layer}", "region": region, "size": 100, "kept_a": 5,
                "kept_b": 5, "intersection": inter * (layer + 1), "union": union,
            })  # fmt: skip
    frame = pd.DataFrame(rows)
    single = frame.assign(method="single_mask", intersection=9)
    table = intersected_iou(pd.concat([frame, single]))
    assert list(table["region"]) == ["conv", "mlp"]
    conv = table.iloc[0]
    # b0: (1 + 2) / 20 = 0.15; b1: (3 + 6) / 20 = 0.45
    assert conv["iou"] == "0.300 (0.150-0.450)" and conv["base_models"] == 2
    assert conv["mask_seeds"] == "3"
    assert intersected_iou(single).empty and intersected_iou(None).empty
