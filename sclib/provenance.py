"""Where and with what a result was computed: device, CPU, threads, torch, git revision.

``sclib.experiments.runner`` stamps every run row with ``provenance()``;
``sclib.plots.style.save_figure`` writes it beside each figure, with a summary of the runs
the figure rests on. The CPU model, torch's CPU capability (the vector instructions its
kernels use) and the thread count are what a CPU result depends on beyond the seeds: the
same run is bit-identical only on the same kind of machine with the same thread count.
"""

from __future__ import annotations

import functools
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


@functools.cache
def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "Model")):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def flushes_denormals() -> bool:
    """Whether torch flushes denormal floats to zero in this process (``set_flush_denormal``,
    which has no getter: a denormal is multiplied and looked at)."""
    return bool((torch.tensor([1e-39]) * 1.0).item() == 0.0)


def provenance(device: str | None = None) -> dict[str, Any]:
    """Device, processor, threads, numeric settings, torch version and git revision.

    Keys: ``device``, ``cpu`` (architecture), ``cpu_model``, ``cpu_capability`` (torch's
    kernel instruction set, e.g. AVX2), ``torch_threads``, ``deterministic_algorithms``,
    ``flush_denormal``, ``torch_version``, ``git_rev``.
    """
    if device is None:
        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {
        "device": device,
        "cpu": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "flush_denormal": flushes_denormals(),
        "torch_version": torch.__version__,
        "git_rev": git_revision(),
    }


def runs_provenance(runs: pd.DataFrame) -> dict[str, Any]:
    """What a set of run rows was computed with: profiles, seeds, devices, CPUs, threads,
    revisions, time (columns a row lacks give empty lists).

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
        "cpu_models": values("cpu_model"),
        "cpu_capabilities": values("cpu_capability"),
        "torch_threads": values("torch_threads"),
        "torch_versions": values("torch_version"),
        "git_revs": values("git_rev"),
        "wall_time_s_total": round(float(wall), 1),
    }
