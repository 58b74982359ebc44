"""Runs per CPU-hour: a fixed set of quick cells from a clean cache, and where the time goes.

Runs the cells below with ``run_cell`` in this process, in a fresh temporary cache (nothing
is read from ``data/cache``), and prints the wall and CPU time, the runs per hour and per
CPU-hour (the measure to compare revisions on a machine that is doing other work),
the seconds and share of every stage (``sclib.stopwatch``: data, pretraining, base
training and evaluation, passing and failing mask rungs, mask validation, the ablation
evaluations) and the peak memory of the process. The last line is one line to compare two
revisions: run the bench of this revision against another checkout's package,

    python bench/throughput.py                       # this checkout
    PYTHONPATH=/tmp/old python bench/throughput.py   # another revision's sclib (a worktree)

(a revision without ``sclib.stopwatch`` prints its total only). Cells (``--cells``):
``default`` is notebook 02's quick grid (vision ResNet scratch Inside and Contact,
language MiniLM pretrained Subject and Verb); ``vision`` and ``language`` its halves.
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CELLS = {
    "vision": [
        ("inside_contact", "resnet", "inside", "scratch", "none"),
        ("inside_contact", "resnet", "contact", "scratch", "none"),
    ],
    "language": [
        ("sv_agreement", "minilm", "subject", "pretrained", "singular"),
        ("sv_agreement", "minilm", "verb", "pretrained", "singular"),
    ],
}
CELLS["default"] = CELLS["vision"] + CELLS["language"]


def revision() -> str:
    import sclib

    root = Path(sclib.__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", choices=sorted(CELLS), default="default")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    import torch

    from sclib.experiments.cache import Cache
    from sclib.experiments.profiles import Cell
    from sclib.experiments.runner import run_cell

    try:
        stopwatch = importlib.import_module("sclib.stopwatch")
    except ImportError:
        stopwatch = None
    if args.threads:
        torch.set_num_threads(args.threads)
    cells = [Cell(t, a, s, r, v) for t, a, s, r, v in CELLS[args.cells]]
    print(f"sclib {revision()}, torch threads {torch.get_num_threads()}, {len(cells)} quick cells")
    with tempfile.TemporaryDirectory(prefix="sclib-bench-") as folder:
        cache = Cache(Path(folder))
        start, cpu = time.perf_counter(), time.process_time()
        for cell in cells:
            t0 = time.perf_counter()
            row = run_cell(cell, "quick", cache, progress=False)
            print(
                f"  {cell.task}/{cell.subroutine} {cell.architecture} {cell.regime}: "
                f"{time.perf_counter() - t0:6.1f} s  ablation score {row['ablation_score']:+.3f}  "
                f"kept {row['kept_fraction_of_model']:.4f}",
                flush=True,
            )
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    summary = {
        "rev": revision(),
        "cells": args.cells,
        "runs": len(cells),
        "wall_s": round(wall, 1),
        "runs_per_hour": round(3600 * len(cells) / wall, 2),
        # the process's CPU time (all its threads): the fair measure on a busy machine
        "cpu_s": round(cpu, 1),
        "runs_per_cpu_hour": round(3600 * len(cells) / cpu, 2),
        "peak_rss_gib": round(peak_gib, 2),
    }
    if stopwatch is not None:
        spent = stopwatch.totals()
        total = sum(spent.values())
        print("where the time goes (seconds, share of the timed stages):")
        for name in sorted(spent, key=spent.get, reverse=True):
            print(f"  {name:<20} {spent[name]:8.1f} s  {spent[name] / total:6.1%}")
        print(f"  {'(untimed)':<20} {wall - total:8.1f} s")
        summary["stages_s"] = {k: round(v, 1) for k, v in spent.items()}
    print(f"wall {wall:.0f} s, CPU {cpu:.0f} s: {3600 * len(cells) / cpu:.1f} runs per CPU-hour")
    print(f"peak memory {peak_gib:.2f} GiB (goal: under 4 GiB)")
    print("THROUGHPUT " + json.dumps(summary), flush=True)


if __name__ == "__main__":
    sys.exit(main())
