"""The paper's published per-run results, in sclib's vocabulary.

``data/reference/`` holds the CSVs built from the authors' repository (see its README).
``paper_runs()`` returns them with the task, subroutine, architecture and regime names
that sclib's own results tables use, so a plot can draw both from one frame; the
``source`` column says ``"paper"``. ``PUBLISHED_TESTS`` holds the significance tests the
authors published. Nothing here is ever written into our results. Used by
notebooks 02, 03 and 04, which draw the paper's runs beside ours (through ``sclib.plots``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sclib.paths import REFERENCE_DIR

TASK_NAMES = {
    "Inside-Contact": "inside_contact",
    "Inside-Number": "inside_number",
    "Number-Contact": "number_contact",
    "SV-Agreement": "sv_agreement",
    "Anaphora": "anaphora",
}
ARCHITECTURE_NAMES = {
    "ResNet50": "resnet",
    "WideResNet50": "wide_resnet",
    "BERT-small": "bert_small",
}
# regime -> (our regime, what the backbone was pretrained with)
REGIME_NAMES = {
    "scratch": ("scratch", "none"),
    "pretrained-SimCLR": ("pretrained", "simclr"),
    "pretrained-LM": ("pretrained", "mlm"),
    "untrained-control": ("untrained", "none"),
    "pruned-base": ("pruned", "none"),
}


def paper_runs(path: Path | str | None = None, include_excluded: bool = False) -> pd.DataFrame:
    """One row per published mask run, renamed to sclib's vocabulary.

    Args:
        path: the runs CSV; ``data/reference/paper_results_runs.csv`` by default.
        include_excluded: keep runs on base models the paper marked as failed.

    >>> runs = paper_runs()
    >>> sorted(runs["task"].unique())[:2]
    ['anaphora', 'inside_contact']
    >>> bool((runs["source"] == "paper").all())
    True
    """
    df = pd.read_csv(path or REFERENCE_DIR / "paper_results_runs.csv")
    if not include_excluded:
        df = df[~df["excluded"]]
    df = df.rename(columns={"regime": "paper_regime"})
    df["task"] = df["task"].map(TASK_NAMES)
    df["architecture"] = df["architecture"].map(ARCHITECTURE_NAMES)
    df["regime"] = df["paper_regime"].map(lambda r: REGIME_NAMES[r][0])
    df["pretraining"] = df["paper_regime"].map(lambda r: REGIME_NAMES[r][1])
    for col in ("subroutine", "other_subroutine"):
        df[col] = df[col].str.lower()
    df["source"] = "paper"
    return df.reset_index(drop=True)


def paper_cell_means(
    by: tuple[str, ...] = ("domain", "task", "architecture", "regime", "subroutine"),
) -> pd.DataFrame:
    """Mean and std of the two scores over the paper's runs, grouped by ``by``."""
    runs = paper_runs()
    return (
        runs.groupby(list(by))[["subnetwork_score", "ablation_score"]]
        .agg(["mean", "std", "count"])
        .reset_index()
    )


# The paper's published significance tests: the outputs printed in the authors' R notebooks
# (Vision/CVR/analysis/Main_Analysis.nb.html, Language/SyntacticSubnetworks/analysis/
# Main_Analysis.nb.html, commit 20b3b01 of mlepori1/Compositional_Subnetworks). Only the cells
# those notebooks were last run on are published. ``contrast`` None: the mean ablation score
# (``linearHypothesis(fit, "(Intercept) + Ablation = 0")``); ("scratch", "untrained"): the
# untrained minus the trained mean ablation score (``"Random + Ablation:Random = 0"``; its
# estimate and error are the ``Random`` row of the refit on ``Subnetwork * Random``). ``chisq``
# and ``p_value`` are R's (two-sided); ``coef`` and ``se`` as printed (6 significant digits).
# Language cells pool singular and plural; the untrained control is the one run for
# ``model_folder``. In sclib's vocabulary (``paper_runs``); ``sclib.stats.glm.paper_test``
# reproduces every row (tests/test_stats_glm.py).
PUBLISHED_TESTS = pd.DataFrame(
    [
        ("vision", "inside_number", "wide_resnet", "WideResnet50", "inside", None, -0.104, 0.060471, 2.9578, 0.08546),
        ("vision", "inside_number", "wide_resnet", "WideResnet50", "number", None, -0.143, 0.090358, 2.5046, 0.1135),
        ("language", "anaphora", "bert_small", "BERT_Small", "antecedent", None, -0.336111, 0.079596, 17.831, 2.414e-05),
        ("language", "anaphora", "bert_small", "BERT_Small", "pronoun", None, -0.206389, 0.087195, 5.6025, 0.01793),
        ("vision", "number_contact", "resnet", "Resnet50", "contact", ("scratch", "untrained"), 0.34, 0.044846, 57.479, 3.416e-14),
        ("vision", "number_contact", "resnet", "Resnet50", "number", ("scratch", "untrained"), 0.011222, 0.015176, 0.5468, 0.4596),
        ("language", "anaphora", "bert_small", "BERT_Small", "antecedent", ("scratch", "untrained"), 0.563611, 0.133322, 17.871, 2.364e-05),
        ("language", "anaphora", "bert_small", "BERT_Small", "pronoun", ("scratch", "untrained"), 0.928056, 0.083802, 122.64, float("nan")),
    ],
    columns=["domain", "task", "architecture", "model_folder", "subroutine", "contrast", "coef", "se", "chisq", "p_value"],
)  # fmt: skip
# p_value NaN: R printed "< 2.2e-16"
