"""Where the time goes: wall-clock seconds per stage of a run, each second counted once.

Code marks a stage with ``with stage("base_training"):``; stages nest, and a nested stage's
time is taken out of its parent's (generating a dataset inside base training counts as
``data``, not twice). ``totals()`` is a snapshot of the seconds per stage so far in this
process; ``since(snapshot)`` what was added after it. ``sclib.experiments.runner`` writes
each run's share into its row (``time_<stage>_s``), ``bench/throughput.py`` prints the
shares of a grid, and ``sclib.experiments.jobs_estimate`` can read them back.

>>> before = totals()
>>> with stage("outer") as s:
...     with stage("inner"):
...         pass
...     s.name = "outer_renamed"  # a stage may be renamed before it ends: all of it moves
>>> sorted(since(before))
['inner', 'outer_renamed']
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

# The stages sclib marks, in the order a run meets them (README: "Where the time goes").
STAGES = (
    "data",  # generating (or loading) problem sets
    "pretraining",  # SimCLR / MLM
    "base_training",
    "base_evaluation",  # a base model's accuracies on every test set
    "mask_rung_passing",  # training a mask whose rung reached the selection threshold
    "mask_rung_failing",  # ... and one whose rung did not (the search goes on)
    "mask_validation",  # a trained mask's accuracy on the validation mask-task set
    "evaluation",  # subnetwork and every ablation mode on both "+/-" test sets
)

_TOTALS: dict[str, float] = defaultdict(float)
_OPEN: list[_Stage] = []


@dataclass
class _Stage:
    name: str
    resumed: float  # when this stage last started counting (a child pauses it)
    elapsed: float = 0.0  # counted so far, filed under ``name`` when the stage ends


@contextmanager
def stage(name: str) -> Iterator[_Stage]:
    """Count the block's wall time under ``name`` (minus nested stages' time); the yielded
    handle's ``name`` may be changed before the block ends to file all of it elsewhere."""
    now = time.perf_counter()
    if _OPEN:
        parent = _OPEN[-1]
        parent.elapsed += now - parent.resumed
    current = _Stage(name, now)
    _OPEN.append(current)
    try:
        yield current
    finally:
        end = time.perf_counter()
        _OPEN.pop()
        _TOTALS[current.name] += current.elapsed + end - current.resumed
        if _OPEN:
            _OPEN[-1].resumed = end


def totals() -> dict[str, float]:
    """Seconds per stage so far in this process (stages still open are not counted yet)."""
    return dict(_TOTALS)


def since(snapshot: Mapping[str, float]) -> dict[str, float]:
    """Seconds per stage added since ``snapshot`` (a ``totals()``); stages with none left out."""
    return {k: v - snapshot.get(k, 0.0) for k, v in _TOTALS.items() if v > snapshot.get(k, 0.0)}


def stage_columns(seconds: Mapping[str, float]) -> dict[str, float]:
    """One ``time_<stage>_s`` column per stage of ``STAGES`` (0.0 where none was spent)."""
    return {f"time_{s}_s": round(float(seconds.get(s, 0.0)), 3) for s in STAGES}
