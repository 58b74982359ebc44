"""`make figures` from a clean cache, timed: issue #13's goal, measured the way it is stated.

Clones a revision of this repository (``--rev``, default HEAD; committed files only) into a
temporary folder with an empty ``data/cache``, runs ``python -m sclib.notebooks --profile
quick`` there (every numbered notebook, the pool's prefetch first) with that clone's
``sclib`` on ``PYTHONPATH`` (the notebooks' kernels inherit it), and prints the wall time,
the CPU time of everything it started, the prefetch's and each notebook's seconds, and the
ratio to the issue's baseline (``--baseline``, 15 minutes: "measured from a clean cache on
the 2-core machine"). Nothing in ``data/cache`` or ``figures/`` of this checkout is read or
written. A measurement means something only on a quiet machine: the script prints the
load average before and after so a busy run is visible.

    python bench/figures_clean.py                # HEAD
    python bench/figures_clean.py --rev 07ab6a3  # another revision, same machine
    python bench/figures_clean.py --only 02 03   # some notebooks (not the goal's measure)
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE_S = 15 * 60  # issue #13: "make figures takes about 15 minutes" (clean cache, 2 cores)
STEP = re.compile(r"^\[(\d+)/(\d+)\] (\S+) done in (\d+) s")
PREFETCH = re.compile(r"^\[prefetch\] done in (\d+) s")


def clone(rev: str, into: Path) -> Path:
    """A clone of ``rev`` of this repository in ``into`` (objects shared, nothing fetched)."""
    target = into / "repo"
    subprocess.run(["git", "clone", "-q", "--shared", str(ROOT), str(target)], check=True)
    subprocess.run(["git", "-C", str(target), "checkout", "-q", rev], check=True)
    return target


def run(repo: Path, only: list[str] | None, workers: int | None) -> tuple[float, float, list[str]]:
    """Run the notebooks in ``repo``; returns wall seconds, CPU seconds of the children and
    the output lines (echoed as they come)."""
    env = dict(os.environ, PYTHONPATH=str(repo), PYTHONHASHSEED="0")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    command = [sys.executable, "-m", "sclib.notebooks", "--profile", "quick"]
    if only:
        command += ["--only", *only]
    if workers is not None:
        command += ["--workers", str(workers)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    lines = []
    with subprocess.Popen(
        command, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        for line in process.stdout:
            print(line, end="", flush=True)
            lines.append(line.rstrip("\n"))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if process.returncode:
        raise SystemExit(f"sclib.notebooks failed (exit {process.returncode})")
    return wall, cpu, lines


def summary(wall: float, cpu: float, lines: list[str], baseline: float) -> list[str]:
    """The report: prefetch and notebook seconds, totals, the ratio to ``baseline``."""
    out = []
    for line in lines:
        if m := PREFETCH.match(line):
            out.append(f"prefetch (the pool: notebooks 02-04's runs, ladder, probes): {m[1]} s")
        if m := STEP.match(line):
            out.append(f"{m[3]}: {m[4]} s")
    out.append(f"wall {wall:.0f} s ({wall / 60:.1f} min), CPU {cpu:.0f} s of all processes")
    out.append(
        f"ratio to the issue's clean-cache baseline ({baseline:.0f} s): {wall / baseline:.2f}"
    )
    return out


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--rev", default="HEAD", help="the revision to measure (default HEAD)")
    cli.add_argument("--only", nargs="*", help="notebook numbers, e.g. 02 03 (default: all)")
    cli.add_argument(
        "--workers", type=int, default=None, help="the pool's workers (default: cores)"
    )
    cli.add_argument("--baseline", type=float, default=BASELINE_S, help="seconds to compare with")
    args = cli.parse_args(argv)
    rev = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", args.rev],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    print(f"load average before: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="sclib-figures-") as tmp:
        repo = clone(rev, Path(tmp))
        wall, cpu, lines = run(repo, args.only, args.workers)
    print(f"load average after: {os.getloadavg()}")
    for line in summary(wall, cpu, lines, args.baseline):
        print(line)
    print(f"figures_clean {rev}: {wall:.0f} s wall, {cpu:.0f} CPU-s, {wall / args.baseline:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
