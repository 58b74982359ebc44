"""Collect a profile's finished jobs into one tidy table, and say what is missing and why.

Run rows are read through ``sclib.experiments.collect.cached_choices`` (the one reader of
runs on disk), which also gives the exact ``Profile`` each row was run with: only rows of
the profile as the jobs define it now are kept, so an older definition of ``quick`` never
mixes into a table of today's.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sclib.experiments.cache import Cache
from sclib.experiments.collect import cached_choices
from sclib.experiments.jobs import Job
from sclib.experiments.jobs_pool import read_status, status_path
from sclib.experiments.profiles import Cell
from sclib.experiments.seeds import included_seeds

ORDER = ["domain", "task", "architecture", "regime", "variant", "base_seed", "subroutine"]


def _reason(name: str, status: dict[str, dict]) -> str:
    rec = status.get(name)
    if rec is None:
        return "not run yet (no status record)"
    if rec["state"] == "failed" and rec.get("error"):
        return f"failed after {rec['attempts']} attempt(s): {rec['error']}"
    if rec["state"] in ("running", "pending"):
        sid = rec.get("submitit_id")
        return f"{rec['state']} when the status was last written" + (f" (job {sid})" if sid else "")
    return f"status {rec['state']!r} but its runs are not in the cache"


def collect_jobs(
    jobs: list[Job], cache: Cache, profile: str
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The run rows of ``jobs`` (one per run, with provenance and ``run_id``; each cell's
    included base seeds marked, ``sclib.experiments.seeds``) and, for each
    job with runs missing, the reason (from the status file of ``profile``)."""
    rows = cached_choices(cache)  # only runs keyed as the code keys them now count
    wanted = {(c, j.profile): j.name for j in jobs if j.kind == "base" for c in j.cells}
    keep, found = [], set()
    if not rows.empty:
        pairs = zip(_cells(rows), rows["profile_config"], rows["keyed_now"], strict=True)
        for i, (cell, prof, keyed_now) in enumerate(pairs):
            if keyed_now and (cell, prof) in wanted:
                keep.append(i)
                found.add((cell, prof))
    table = (
        rows.iloc[keep].drop(columns=["profile_config", "keyed_now"]) if keep else pd.DataFrame()
    )
    if not table.empty:
        table = included_seeds(table)
        table = table.sort_values([c for c in ORDER + ["mask_seed"] if c in table])
        table = table.reset_index(drop=True)
    status = read_status(status_path(cache.root or Path("."), profile))
    missing: dict[str, str] = {}
    for job in jobs:
        absent = [c for c in job.cells if (c, job.profile) not in found]
        if job.kind == "base" and absent:
            missing[job.name] = f"{len(absent)}/{len(job.cells)} runs missing; " + _reason(
                job.name, status
            )
    return table, missing


def _cells(rows: pd.DataFrame) -> list[Cell]:
    fields = ("task", "architecture", "subroutine", "regime", "variant", "base_seed", "mask_seed")
    return [
        Cell(*(r[f] if not hasattr(r[f], "item") else r[f].item() for f in fields))
        for r in rows[list(fields)].to_dict("records")
    ]
