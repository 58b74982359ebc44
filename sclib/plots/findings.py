"""Titles that state what a figure's data show, computed from the numbers it draws.

Every figure of ``sclib.plots`` is titled by one of these sentences, never by a typed
constant: the same code says "hurts its own subroutine more" for one run and "no selective
effect" for another. Scores are on the scale of accuracies (``sclib.stats.scores``); a mean
within ``MARGIN`` of the value it is compared with counts as no difference.

>>> ablation_finding(-0.31, p_value=0.01)
'Ablating a subnetwork hurts its own subroutine more (mean ablation score -0.31, p = 0.01)'
>>> ablation_finding(-0.01)
'No selective effect of ablating a subnetwork (mean ablation score -0.01)'
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

MARGIN = 0.05  # a difference of mean scores below this counts as none
OVERLAP_RATIO = 1.5  # IoU this many times the random masks' (or less than 1/this): a difference


def _missing(*values: float | None) -> bool:
    return any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values)


def ablation_finding(
    score: float,
    p_value: float | None = None,
    random_score: float | None = None,
    alpha: float = 0.05,
    margin: float = MARGIN,
    subject: str = "a subnetwork",
    label: str = "mean ablation score",
) -> str:
    """What a mean ablation score shows: its direction, against the random control if given,
    and, with ``p_value``, whether it was significant (NaN: too few base models to test).
    ``subject`` names what was ablated, ``label`` the number.

    >>> ablation_finding(-0.31, p_value=float("nan"))
    'Ablating a subnetwork hurts its own subroutine more (mean ablation score -0.31; too few base models to test)'
    >>> ablation_finding(-0.31, p_value=0.4)
    'No significant selective effect of ablating a subnetwork (mean ablation score -0.31, p = 0.4)'
    >>> ablation_finding(-0.02, random_score=0.01)
    'No selective effect of ablating a subnetwork (mean ablation score -0.02, random ablation +0.01)'
    """  # noqa: E501
    if _missing(score):
        return "No runs drawn: nothing to show"
    numbers = f"{label} {score:+.2f}"
    baseline = 0.0
    if not _missing(random_score):
        numbers += f", random ablation {random_score:+.2f}"
        baseline = random_score
    if score <= baseline - margin:
        headline = f"Ablating {subject} hurts its own subroutine more"
    elif score >= baseline + margin:
        headline = f"Ablating {subject} hurts the other subroutine more"
    else:
        headline = f"No selective effect of ablating {subject}"
    if p_value is None:
        return f"{headline} ({numbers})"
    if _missing(p_value):
        return f"{headline} ({numbers}; too few base models to test)"
    if p_value >= alpha and not headline.startswith("No"):
        headline = f"No significant selective effect of ablating {subject}"
    return f"{headline} ({numbers}, p = {p_value:.2g})"


def subnetwork_finding(score: float, margin: float = MARGIN) -> str:
    """Whether subnetworks solve their own subroutine better than the other.

    >>> subnetwork_finding(0.63), subnetwork_finding(0.02)
    ('Subnetworks solve their own subroutine, not the other (mean subnetwork score +0.63)', \
'Subnetworks are not selective (mean subnetwork score +0.02)')
    """
    if _missing(score):
        return "No runs drawn: nothing to show"
    numbers = f"(mean subnetwork score {score:+.2f})"
    if score >= margin:
        return f"Subnetworks solve their own subroutine, not the other {numbers}"
    return f"Subnetworks are not selective {numbers}"


def cells_finding(counts: Mapping[str, tuple[int, int]]) -> str:
    """How many cells drawn show the effect, from ``{domain: (n_showing, n_drawn)}``.

    >>> cells_finding({"vision": (2, 2), "language": (0, 0)})
    'Selective subnetworks in every cell drawn (vision: 2 of 2; language: no run drawn)'
    >>> cells_finding({"vision": (0, 2)})
    'No cell drawn shows a selective subnetwork (vision: 0 of 2)'
    """
    parts = [
        f"{domain}: {f'{k} of {n}' if n else 'no run drawn'}" for domain, (k, n) in counts.items()
    ]
    showing = sum(k for k, _ in counts.values())
    drawn = sum(n for _, n in counts.values())
    if drawn == 0:
        headline = "No runs drawn: every run excluded"
    elif showing == drawn:
        headline = "Selective subnetworks in every cell drawn"
    elif showing == 0:
        headline = "No cell drawn shows a selective subnetwork"
    else:
        headline = f"Selective subnetworks in {showing} of {drawn} cells drawn"
    return f"{headline} ({'; '.join(parts)})"


def regime_finding(pretrained: float, scratch: float, margin: float = MARGIN) -> str:
    """Pretrained vs scratch mean ablation scores (more negative: more selective).

    >>> regime_finding(-0.39, -0.23)
    'pretrained subnetworks ablate more selectively than scratch ones (-0.39 vs -0.23)'
    >>> regime_finding(-0.39, -0.40)
    'pretrained and scratch subnetworks ablate alike (-0.39 vs -0.40)'
    >>> regime_finding(float("nan"), -0.40)
    'no pretrained run drawn to compare with scratch'
    """
    if _missing(pretrained, scratch):
        which = "pretrained" if _missing(pretrained) else "scratch"
        other = "scratch" if which == "pretrained" else "pretrained"
        return f"no {which} run drawn to compare with {other}"
    numbers = f"({pretrained:+.2f} vs {scratch:+.2f})"
    if pretrained <= scratch - margin:
        return f"pretrained subnetworks ablate more selectively than scratch ones {numbers}"
    if pretrained >= scratch + margin:
        return f"scratch subnetworks ablate more selectively than pretrained ones {numbers}"
    return f"pretrained and scratch subnetworks ablate alike {numbers}"


def reliability_finding(n_significant: int, n_cells: int, n_untestable: int) -> str:
    """How many testable cells are significantly below 0; untestable cells said as such.

    >>> reliability_finding(0, 4, 4)
    'Too few base models to test: 4 of 4 cells untestable'
    >>> reliability_finding(1, 3, 1)
    '1 of 2 testable cells significantly below 0 (1 untestable)'
    """
    if n_cells == 0:
        return "No runs drawn: nothing to test"
    testable = n_cells - n_untestable
    if testable == 0:
        return f"Too few base models to test: {n_untestable} of {n_cells} cells untestable"
    text = f"{n_significant} of {testable} testable cells significantly below 0"
    return text + (f" ({n_untestable} untestable)" if n_untestable else "")


def overlap_finding(iou: float, random_iou: float, ratio: float = OVERLAP_RATIO) -> str:
    """Whether two subroutines' masks share more weights than random masks of their sizes.

    >>> overlap_finding(0.15, 0.02)
    "The two subroutines' masks share more weights than random masks (IoU 0.15 vs 0.02)"
    >>> overlap_finding(0.02, 0.02)
    "The two subroutines' masks share about as many weights as random masks (IoU 0.02 vs 0.02)"
    """
    if _missing(iou, random_iou):
        return "No pairs of masks to compare"
    numbers = f"(IoU {iou:.2f} vs {random_iou:.2f})"
    if iou > ratio * random_iou:
        how = "more weights than"
    elif iou * ratio < random_iou:
        how = "fewer weights than"
    else:
        how = "about as many weights as"
    return f"The two subroutines' masks share {how} random masks {numbers}"


def location_finding(peaks: Mapping[str, str]) -> str:
    """Where the subnetworks keep the largest fraction, from ``{subroutine: region}``.

    >>> location_finding({"inside": "stage3", "contact": "stage3"})
    'Both subnetworks keep the largest fraction of weights in stage3'
    >>> location_finding({"inside": "stage3", "contact": "mlp"})
    'The subnetworks live in different places: inside keeps most in stage3, contact in mlp'
    """
    if not peaks:
        return "No masks to locate"
    regions = set(peaks.values())
    if len(regions) == 1:
        who = "Both subnetworks" if len(peaks) == 2 else "Every subnetwork"
        return f"{who} keep the largest fraction of weights in {regions.pop()}"
    (first, region), *rest = peaks.items()
    others = ", ".join(f"{s} in {r}" for s, r in rest)
    return f"The subnetworks live in different places: {first} keeps most in {region}, {others}"


def grade_finding(grades: Iterable[float], margin: float = MARGIN) -> str:
    """Whether decomposition grades (1 perfect, 0 none) are perfect, absent or graded.

    >>> grade_finding([0.1, 0.5])
    'Decomposition is graded (cell grades +0.10 to +0.50, 1 = perfect)'
    >>> grade_finding([0.01, -0.02])
    'No cell decomposes (cell grades -0.02 to +0.01, 1 = perfect)'
    """
    values = np.asarray([g for g in grades if not _missing(g)], dtype=float)
    if not len(values):
        return "No graded cells"
    numbers = f"(cell grades {values.min():+.2f} to {values.max():+.2f}, 1 = perfect)"
    if values.min() >= 1 - 2 * margin:
        return f"Decomposition is near perfect in every cell {numbers}"
    if values.max() <= 2 * margin:
        return f"No cell decomposes {numbers}"
    return f"Decomposition is graded {numbers}"


def imperfect_finding(
    ablation_scores: Iterable[float], above_chance: Iterable[float], margin: float = MARGIN
) -> str:
    """Whether trained runs decompose cleanly: every ablation score well below 0 and every
    subnetwork at chance on the other subroutine.

    >>> imperfect_finding([-0.4, -0.02], [0.2, 0.1])
    'Decomposition is imperfect: subnetworks stay +0.15 above chance on the other subroutine; ablation scores from -0.40 to -0.02'
    >>> imperfect_finding([-0.6, -0.5], [0.0, 0.01])
    'Decomposition is clean in every run: subnetworks stay +0.01 above chance on the other subroutine; ablation scores from -0.60 to -0.50'
    """  # noqa: E501
    scores = np.asarray([s for s in ablation_scores if not _missing(s)], dtype=float)
    above = np.asarray([a for a in above_chance if not _missing(a)], dtype=float)
    if not len(scores) and not len(above):
        return "No trained runs drawn: nothing to show"
    parts, clean = [], True
    if len(above):
        parts.append(f"subnetworks stay {above.mean():+.2f} above chance on the other subroutine")
        clean &= bool(above.mean() < margin)
    if len(scores):
        parts.append(f"ablation scores from {scores.min():+.2f} to {scores.max():+.2f}")
        clean &= bool(scores.max() <= -margin)
    headline = "Decomposition is clean in every run" if clean else "Decomposition is imperfect"
    return f"{headline}: {'; '.join(parts)}"


def sensitivity_finding(selected: float | None, others: Iterable[float], margin: float = MARGIN):
    """Whether the rung the search selects sits where the ablation effect is strongest.

    ``selected``: the selected rung's ablation score (None: no rung passed); ``others``: the
    ablation scores of the other rungs whose subnetwork passed.

    >>> sensitivity_finding(-0.30, [-0.28, -0.1])
    'The selected rung sits where the effect is (ablation score -0.30, other passing rungs -0.28 to -0.10)'
    >>> sensitivity_finding(-0.05, [-0.4])
    'Another passing rung shows a stronger effect than the selected one (ablation score -0.05, other passing rungs -0.40 to -0.40)'
    """  # noqa: E501
    rest = np.asarray([o for o in others if not _missing(o)], dtype=float)
    if _missing(selected):
        return "No rung's subnetwork passed: nothing selected"
    if not len(rest):
        return f"Only the selected rung passes (ablation score {selected:+.2f})"
    numbers = (
        f"(ablation score {selected:+.2f}, other passing rungs {rest.min():+.2f} to "
        f"{rest.max():+.2f})"
    )
    if rest.min() < selected - margin:
        return f"Another passing rung shows a stronger effect than the selected one {numbers}"
    return f"The selected rung sits where the effect is {numbers}"


def split_finding(finding: str) -> tuple[str, str]:
    """A finding's headline and its numbers: "Headline (numbers)" or "Headline: numbers".

    >>> split_finding("Masks overlap (IoU 0.3)")
    ('Masks overlap', 'IoU 0.3')
    """
    if finding.endswith(")") and " (" in finding:
        head, rest = finding.split(" (", 1)
        return head, rest[:-1]
    if ": " in finding:
        head, rest = finding.split(": ", 1)
        return head, rest
    return finding, ""


def combine_findings(findings: Mapping[str, str]) -> str:
    """One title from per-domain findings: the shared headline once with each domain's numbers,
    or, where the domains differ, each domain's finding in turn.

    >>> combine_findings({"vision": "Masks overlap (IoU 0.3)", "language": "Masks overlap (IoU 0.2)"})
    'Masks overlap (vision: IoU 0.3; language: IoU 0.2)'
    >>> combine_findings({"vision": "Masks overlap (IoU 0.3)", "language": "No masks"})
    'Vision: masks overlap (IoU 0.3); language: no masks'
    """
    if not findings:
        return "Nothing drawn"
    parts = {domain: split_finding(f) for domain, f in findings.items()}
    heads = {head for head, _ in parts.values()}
    if len(heads) == 1:
        numbers = "; ".join(f"{d}: {rest}" if rest else d for d, (_, rest) in parts.items())
        text = f"{heads.pop()} ({numbers})"
    else:
        text = "; ".join(f"{d}: {f[0].lower()}{f[1:]}" for d, f in findings.items())
    return text[0].upper() + text[1:]
