"""Cell by cell against the paper (sclib.stats.agreement), and the README's copy of it."""

from __future__ import annotations

import pandas as pd
import pytest

from sclib.paths import ROOT
from sclib.stats.agreement import (
    README_END,
    README_START,
    agreement_markdown,
    agreement_summary,
    agreement_table,
    readme_block,
    standard_agreement,
    write_readme,
)


def _runs(source: str, rows: list[tuple]) -> pd.DataFrame:
    seed = "base_seed" if source == "sclib" else "base_model_seed"
    frame = pd.DataFrame(
        rows,
        columns=["task", "subroutine", "regime", "architecture", seed, "ablation_score",
                 "subnetwork_score", "excluded"],
    )  # fmt: skip
    return frame.assign(domain="vision", variant="none", source=source)


OURS = _runs("sclib", [
    ("inside_contact", "inside", "scratch", "resnet", 0, -0.30, 0.6, False),
    ("inside_contact", "inside", "scratch", "resnet", 1, -0.20, 0.7, False),
    ("inside_contact", "inside", "scratch", "resnet", 2, +0.90, 0.9, True),  # excluded: dropped
    ("inside_contact", "contact", "scratch", "resnet", 0, -0.01, 0.5, False),
    ("number_contact", "number", "scratch", "resnet", 0, -0.30, 0.5, False),  # paper lacks it
])  # fmt: skip
PAPER = _runs("paper", [
    ("inside_contact", "inside", "scratch", "resnet", s, -0.10, 0.7, False) for s in range(3)
] + [("inside_contact", "contact", "scratch", "resnet", s, -0.30, 0.5, False) for s in range(3)])  # fmt: skip


def test_cells_both_have_with_means_signs_and_agreement():
    table = agreement_table(OURS, PAPER).set_index("subroutine")
    assert list(table.index) == ["contact", "inside"]  # number_contact: ours only
    inside, contact = table.loc["inside"], table.loc["contact"]
    assert inside["ours_n_runs"] == 2 and inside["ours_n_seeds"] == 2  # the excluded run left out
    assert inside["ours_ablation_score"] == pytest.approx(-0.25)
    assert inside["ablation_score_diff"] == pytest.approx(-0.15)
    assert inside["agrees"] and inside["why"] == ""
    assert contact["ours_ablation_score_sign"] == "near 0"
    assert contact["paper_ablation_score_sign"] == "below 0"
    assert not contact["agrees"] and contact["subnetwork_score_agrees"]
    assert "1 included base seed(s), the paper 3" in contact["why"]
    assert "ablation mean is within 0.05 of 0" in contact["why"]


def test_summary_and_markdown_count_the_disagreements():
    table = agreement_table(OURS, PAPER)
    assert agreement_summary(table).startswith("1/2 cells agree with the paper in both signs")
    text = agreement_markdown(table)
    assert text.count("\n| vision") == 2 and text.count("\n- vision") == 1
    assert agreement_summary(table.iloc[:0]) == "no cell in common with the paper yet"


def test_an_architecture_without_a_family_is_named():
    with pytest.raises(ValueError, match=r"no architecture family for \['vit'\]"):
        agreement_table(OURS.assign(architecture="vit"), PAPER)


def test_the_readme_block_is_the_committed_standard_runs_table(tmp_path):
    """README.md carries the table computed from data/results/standard/runs.csv; rewrite it
    with `python -m sclib.stats.agreement` after collecting a chunk."""
    text = (ROOT / "README.md").read_text()
    block = README_START + text.split(README_START, 1)[1].split(README_END, 1)[0] + README_END
    assert block == readme_block(standard_agreement())
    stale = tmp_path / "README.md"
    stale.write_text(f"intro\n{README_START}\nold\n{README_END}\nrest\n")
    assert write_readme(stale, None) and "not committed yet" in stale.read_text()
    assert stale.read_text().endswith("rest\n") and not write_readme(stale, None)
