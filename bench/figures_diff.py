"""Issue #13: the quick figures' numbers at another revision beside this checkout's.

A speed-up must not change results beyond seed noise. This prints, for each figure CSV of
notebooks 02 and 03 (``figures/*.csv``), every row of ours whose cell both revisions have,
with the scores at ``--from`` (read from git) and now (the working tree), their difference,
and the noise it is measured against: the spread (sample standard deviation) of the same
score over the base seeds of the committed ``standard`` runs of that cell (3 seeds of one
cell give the noise, as the issue asks), where standard has the cell.

    python bench/figures_diff.py --from 07ab6a3
"""

from __future__ import annotations

import argparse
import io
import subprocess
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ("modularity_architectures", "pretrained_vs_random")
CELL = ["domain", "task", "variant", "subroutine", "architecture", "regime"]
SCORES = ["subnetwork_score", "ablation_score"]


def at_revision(rev: str, path: str) -> pd.DataFrame | None:
    try:
        text = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{rev}:{path}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except subprocess.CalledProcessError:
        return None
    return pd.read_csv(io.StringIO(text))


def noise() -> pd.DataFrame:
    """Per cell, the standard deviation of each score over the included standard runs."""
    runs = pd.read_csv(ROOT / "data/results/standard/runs.csv")
    runs = runs[~runs["excluded"].astype(str).str.lower().eq("true")]
    spread = runs.groupby(CELL)[SCORES].std().add_suffix("_sd")
    return spread.reset_index()


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--from", dest="rev", required=True)
    args = cli.parse_args()
    sd = noise()
    for stem in FIGURES:
        path = f"figures/{stem}.csv"
        before = at_revision(args.rev, path)
        after = pd.read_csv(ROOT / path)
        if before is None:
            print(f"{path}: not at {args.rev}")
            continue
        ours = [t[t["source"].astype(str).str.startswith("ours (quick")] for t in (before, after)]
        both = ours[0].merge(ours[1], on=CELL, suffixes=("_before", "_after"))
        both = both.merge(sd, on=CELL, how="left")
        print(f"\n{path}: ours (quick) at {args.rev} -> now ({len(both)} rows of both)")
        for _, row in both.iterrows():
            name = f"{row['domain']} {row['task']} {row['subroutine']} {row['regime']}"
            for score in SCORES:
                a, b = row[f"{score}_before"], row[f"{score}_after"]
                noise_sd = row.get(f"{score}_sd")
                shown = f"seed sd {noise_sd:.3f}" if pd.notna(noise_sd) else "no seed sd"
                print(f"  {name:<48} {score:<17} {a:+.3f} -> {b:+.3f} ({b - a:+.3f}; {shown})")
        gone = ours[0].merge(ours[1], on=CELL, how="left", indicator=True)
        for _, row in gone[gone["_merge"] == "left_only"].iterrows():
            print(f"  only at {args.rev}: {row['domain']} {row['subroutine']} {row['regime']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
