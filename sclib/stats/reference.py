"""The paper's published per-run results, in sclib's vocabulary.

``data/reference/`` holds the CSVs built from the authors' repository (see its README).
``paper_runs()`` returns them with the task, subroutine, architecture and regime names
that sclib's own results tables use, so a plot can draw both from one frame; the
``source`` column says ``"paper"``. Nothing here is ever written into our results. Used by
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
