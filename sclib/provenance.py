"""Where and with what a result was computed: device, torch, git revision.

``sclib.experiments.runner`` stamps every run row with ``provenance()``; ``sclib.plots.modularity.save_figure``
writes it beside each figure, with a summary of the runs the figure rests on.
"""

from __future__ import annotations

import platform
import subprocess
from typing import Any

import pandas as pd
import torch

from sclib.paths import ROOT


def git_revision() -> str:
    """The short revision of the checkout, ``-dirty`` with uncommitted changes to tracked files."""
    try:
        run = dict(cwd=ROOT, capture_output=True, text=True, timeout=5)
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], **run).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], **run)
        return (rev or "unknown") + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(device: str | None = None) -> dict[str, str]:
    """Device, processor, torch version and git revision of this process."""
    if device is None:
        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {
        "device": device,
        "cpu": platform.processor() or platform.machine(),
        "torch_version": torch.__version__,
        "git_rev": git_revision(),
    }


def runs_provenance(runs: pd.DataFrame) -> dict[str, Any]:
    """What a set of run rows was computed with: profiles, seeds, devices, revisions, time.

    >>> rows = pd.DataFrame({"profile": ["quick"] * 2, "base_seed": [0, 1], "mask_seed": 0,
    ...     "device": "cpu", "torch_version": "2.13.0", "git_rev": "abc", "wall_time_s": 3.0})
    >>> runs_provenance(rows)["base_seeds"], runs_provenance(rows)["wall_time_s_total"]
    ([0, 1], 6.0)
    """

    def values(column: str) -> list:
        if column not in runs:
            return []
        return sorted({v.item() if hasattr(v, "item") else v for v in runs[column].dropna()})

    wall = runs["wall_time_s"].sum() if "wall_time_s" in runs else float("nan")
    return {
        "n_runs": int(len(runs)),
        "profiles": values("profile"),
        "base_seeds": values("base_seed"),
        "mask_seeds": values("mask_seed"),
        "devices": values("device"),
        "torch_versions": values("torch_version"),
        "git_revs": values("git_rev"),
        "wall_time_s_total": round(float(wall), 1),
    }
