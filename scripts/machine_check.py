"""The committed standard runs of some cells, recomputed on this machine: do they hold?

A single seed moves as much across CPUs as across seeds (README, *Reproducibility*); the
claims rest on three base seeds. This reads the runs of the selected cells from this
machine's cache (computed with the grid, the same code and seeds as the committed table),
and prints, beside the committed ``data/results/standard/runs.csv``, every run's scores and
then each cell's summary as the README's standard table computes it
(``sclib.stats.standard_summary``: included seeds, mean scores, the GLM's p-value). The
runs it printed are appended to ``data/results/machine_check.csv``, with what each ran on
(``--save``).

    python -m sclib.grid run --profile standard --domain vision --task inside_contact \\
        --architecture resnet --regime scratch --seed 0,1,2,3   # 3: the committed spare
    python scripts/machine_check.py --domain vision --task inside_contact \\
        --architecture resnet --regime scratch [--cache-dir data/cache] [--save]

Measured (README, *Reproducibility*; ``--regime scratch,pretrained,untrained``): those cells'
38 runs on an Intel AVX-512 machine against the committed AMD ones: single ablation scores of
trained models moved by up to 0.35 (median 0.13), the three-seed means by at most 0.07.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from sclib.experiments.cache import Cache
from sclib.experiments.collect import read_table
from sclib.experiments.jobs import plan_jobs
from sclib.experiments.jobs_results import collect_jobs
from sclib.experiments.seeds import spare_jobs
from sclib.paths import ROOT
from sclib.stats.standard_summary import standard_summary

COMMITTED = ROOT / "data" / "results" / "standard" / "runs.csv"
SAVED = ROOT / "data" / "results" / "machine_check.csv"
RUN = ["task", "architecture", "regime", "variant", "base_seed", "mask_seed", "subroutine"]
SHOWN = ["base_comp_test_acc", "mask_passed", "subnetwork_score", "ablation_score"]
MACHINE = ["cpu_model", "cpu_capability", "torch_threads"]  # what each run ran on
SELECTION = ("domain", "task", "architecture", "regime")


def recomputed(args: argparse.Namespace) -> pd.DataFrame:
    """The selection's runs in the cache (``--cache-dir``), as ``grid collect`` gathers them
    (each cell's included base seeds marked), without its mask tables."""
    cache = Cache(args.cache_dir)
    names = ("domains", "tasks", "architectures", "regimes")  # plan_jobs' names of SELECTION
    axes = {n: getattr(args, s).split(",") for n, s in zip(names, SELECTION, strict=True)}
    if args.seed:
        jobs = plan_jobs("standard", **axes, base_seeds=[int(x) for x in args.seed.split(",")])
    else:  # the profile's seeds and its spares, as `grid collect` takes them
        jobs = plan_jobs("standard", **axes) + spare_jobs("standard", cache, **axes)[0]
    table, _ = collect_jobs(jobs, cache, "standard")  # missing runs: left out
    if table.empty:
        raise SystemExit("nothing collected: run the grid for this selection first (see --help)")
    return table


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in SELECTION:
        cli.add_argument(f"--{name}", required=True)
    cli.add_argument("--seed", default="", help="base seeds, e.g. 0,1,2,3 (default: all)")
    cli.add_argument("--cache-dir", default=str(ROOT / "data" / "cache"))
    cli.add_argument("--save", action="store_true", help=f"append the rows to {SAVED.name}")
    args = cli.parse_args()
    committed = read_table(COMMITTED)
    keep = pd.Series(True, index=committed.index)
    for name in SELECTION:
        keep &= committed[name].isin(getattr(args, name).split(","))
    committed = committed[keep]
    here = recomputed(args)
    here = here[here.set_index(RUN).index.isin(committed.set_index(RUN).index)]
    if here.empty:
        print("none of the committed runs of this selection is in the cache here", file=sys.stderr)
        return 1
    committed = committed[committed.set_index(RUN).index.isin(here.set_index(RUN).index)]
    runs = pd.merge(
        committed[RUN + SHOWN + MACHINE],
        here[RUN + SHOWN + MACHINE],
        on=RUN,
        suffixes=("_committed", "_here"),
    )
    machines = {
        side: ", ".join(
            sorted(set(runs[f"cpu_model_{side}"] + " (" + runs[f"cpu_capability_{side}"] + ")"))
        )
        for side in ("committed", "here")
    }
    pd.set_option("display.width", 250)
    print(f"{len(runs)} runs, committed ({machines['committed']}) and here ({machines['here']}):\n")
    shown = [c for c in runs.columns if not c.startswith(tuple(MACHINE))]
    print(runs[shown].round(3).to_string(index=False), end="\n\n")
    cells = pd.concat(
        [
            standard_summary(committed).assign(computed_on=machines["committed"]),
            standard_summary(here).assign(computed_on=machines["here"]),
        ]
    )
    print(cells.to_string(index=False))
    if args.save:
        header = not SAVED.exists()
        runs.round(4).to_csv(SAVED, mode="a", header=header, index=False)
        print(f"\nappended {len(runs)} rows to {SAVED.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
