"""Issue #16: how sparse can a base model be and still learn the task? Accuracy only.

The standard sparsity set trains base models at weight densities 1.0, 0.5, 0.2 and 0.1.
The issue asks for levels down to the sparsest at which the base model still learns. This
check trains the same cells' base models (scratch, base seed 0, the standard profiles) at
sparser densities and records only what the exclusion rule reads: the compositional test
accuracy, beside the measured density of the sparsified region. No mask is trained and no
ablation is computed, so nothing here can steer a result; the base models are cached
under the keys the grid would use, should these levels be added.

    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONHASHSEED=0 \
        .venv/bin/python scripts/sparsity_limit_check.py [--densities 0.05 0.02 0.01]

One row per (domain, density) into data/results/sparsity_limit_check.csv (merged by key).
``at_target`` False: the base model's restored weights (best validation loss) are from
before the annealing reached the target density, so that level was not learnt at it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from sclib.experiments.base_models import base_model
from sclib.experiments.cache import Cache
from sclib.experiments.profile_settings import get_profile
from sclib.experiments.profiles import Cell
from sclib.experiments.sparsity import SPARSITY_TASKS, sparse_profile
from sclib.provenance import provenance
from sclib.tasks import get_task

OUT = Path(__file__).resolve().parents[1] / "data/results/sparsity_limit_check.csv"


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    cli.add_argument("--densities", type=float, nargs="+", default=[0.05, 0.02, 0.01])
    cli.add_argument("--domains", nargs="+", default=list(SPARSITY_TASKS))
    cli.add_argument("--seed", type=int, default=0)
    args = cli.parse_args()
    torch.set_num_threads(1)
    cache, rev = Cache(), provenance().get("git_rev", "?")
    for domain in args.domains:
        task, architecture, variant = SPARSITY_TASKS[domain]
        standard = get_profile(domain, "standard")
        sub = get_task(task).subroutines[0]
        for density in args.densities:
            cell = Cell(task, architecture, sub, "scratch", variant, args.seed, 0)
            profile = sparse_profile(standard, density)
            start = time.perf_counter()
            _, info = base_model(cell, profile, cache, progress=False)
            row = {
                "domain": domain, "task": task, "architecture": architecture,
                "base_seed": args.seed, "weight_density": density,
                "base_weight_density": info.get("weight_density"),
                "base_comp_test_acc": info["comp_test_acc"],
                "exclusion_threshold": standard.exclusion_threshold,
                # the weights restored (best validation loss) may predate the target density
                "at_target": abs(info.get("weight_density", density) / density - 1) <= 0.1,
                "learns": info["comp_test_acc"] >= standard.exclusion_threshold,
                "wall_s": round(time.perf_counter() - start, 1), "git_rev": rev,
            }  # fmt: skip
            print(row, flush=True)
            old = pd.read_csv(OUT) if OUT.exists() else pd.DataFrame(columns=list(row))
            keys = ["domain", "base_seed", "weight_density"]
            merged = pd.concat([old, pd.DataFrame([row])]).drop_duplicates(keys, keep="last")
            merged.sort_values(keys).to_csv(OUT, index=False, float_format="%.6g")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
