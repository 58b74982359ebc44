"""sclib.plots.findings: every title states what the numbers show, both ways."""

from __future__ import annotations

import math

import pytest

from sclib.plots.findings import (
    ablation_finding,
    cells_finding,
    combine_findings,
    grade_finding,
    imperfect_finding,
    location_finding,
    overlap_finding,
    regime_finding,
    reliability_finding,
    sensitivity_finding,
    subnetwork_finding,
)

NAN = math.nan


def test_ablation_finding_follows_sign_significance_and_the_random_control():
    assert ablation_finding(-0.31).startswith("Ablating a subnetwork hurts its own subroutine")
    assert ablation_finding(0.31).startswith("Ablating a subnetwork hurts the other subroutine")
    assert ablation_finding(-0.01).startswith("No selective effect")
    # the same score, judged against a random ablation that hurts as much: no selective effect
    assert ablation_finding(-0.31, random_score=-0.30).startswith("No selective effect")
    assert "random ablation -0.30" in ablation_finding(-0.31, random_score=-0.30)
    # significance: tested and significant, tested and not, untestable
    assert ablation_finding(-0.31, p_value=0.01).endswith("p = 0.01)")
    assert ablation_finding(-0.31, p_value=0.3).startswith("No significant selective effect")
    untested = ablation_finding(-0.31, p_value=NAN)
    assert untested.startswith("Ablating") and untested.endswith("too few base models to test)")
    assert ablation_finding(NAN) == "No runs drawn: nothing to show"


@pytest.mark.parametrize(
    ("finding", "yes", "no"),
    [
        (subnetwork_finding, (0.6,), (0.0,)),
        (regime_finding, (-0.5, -0.2), (-0.2, -0.21)),
        (overlap_finding, (0.3, 0.1), (0.1, 0.1)),
        (grade_finding, ([0.2, 0.6],), ([0.0, 0.05],)),
        (imperfect_finding, ([-0.3, 0.0], [0.2]), ([-0.6, -0.5], [0.0])),
        (sensitivity_finding, (-0.3, [-0.28]), (-0.05, [-0.4])),
        (location_finding, ({"a": "stage3", "b": "stage3"},), ({"a": "stage3", "b": "mlp"},)),
    ],
)
def test_each_finding_reads_differently_when_the_numbers_differ(finding, yes, no):
    assert finding(*yes) != finding(*no)


def test_findings_say_what_the_numbers_are():
    assert regime_finding(-0.5, -0.2).startswith("pretrained subnetworks ablate more selectively")
    assert regime_finding(-0.2, -0.5).startswith("scratch subnetworks ablate more selectively")
    assert regime_finding(-0.2, -0.21).startswith("pretrained and scratch subnetworks ablate alike")
    assert regime_finding(-0.2, NAN) == "no scratch run drawn to compare with pretrained"
    assert reliability_finding(0, 4, 4).startswith("Too few base models to test")
    assert reliability_finding(2, 4, 0) == "2 of 4 testable cells significantly below 0"
    assert overlap_finding(0.01, 0.1).startswith("The two subroutines' masks share fewer weights")
    assert grade_finding([0.95, 0.99]).startswith("Decomposition is near perfect")
    assert imperfect_finding([], []) == "No trained runs drawn: nothing to show"
    assert sensitivity_finding(None, []) == "No rung's subnetwork passed: nothing selected"
    assert cells_finding({"vision": (1, 2)}).startswith("Selective subnetworks in 1 of 2 cells")
    assert cells_finding({"vision": (0, 0)}).startswith("No runs drawn")


def test_combine_findings_shares_a_headline_or_lists_each_domain():
    same = {"vision": overlap_finding(0.3, 0.1), "language": overlap_finding(0.5, 0.1)}
    assert combine_findings(same) == (
        "The two subroutines' masks share more weights than random masks "
        "(vision: IoU 0.30 vs 0.10; language: IoU 0.50 vs 0.10)"
    )
    apart = {"vision": overlap_finding(0.3, 0.1), "language": overlap_finding(0.1, 0.1)}
    text = combine_findings(apart)
    assert text.startswith("Vision: the two subroutines' masks share more weights")
    assert "; language: the two subroutines' masks share about as many" in text
