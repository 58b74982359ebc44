"""Issue #15: why our language subnetworks are not specific, a check of the masked region.

In the committed standard runs, MiniLM from scratch on SV agreement gives subnetwork
scores near 0 (the `subject` subnetwork alone solves pm:subject *and* pm:verb, 1.00 and
0.99), where the paper's BERT-small gives +0.46 and +0.32. Our quick and standard
language profiles mask only layers 2-3 (`from_layer_2`), leaving layers 0-1 whole; the
paper's language runs masked from layer 0 in 82% of its runs (`masked_stages` 0 in
data/reference). Hypothesis: with the lower layers intact, both numbers stay readable and
an odd-one-out comparison on a set where only one of them varies (the +/- sets) is solved
by any residual signal.

The check: the same cells (same cached base models, same mask training and selection
rule) with the masked region `from_layer_0` instead. Selection stays blind to ablations;
this compares regions, it picks nothing. One row per run into
data/results/language_region_check.csv.

    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONHASHSEED=0 \
        .venv/bin/python scripts/language_region_check.py [--seeds 0 1 2] [--subroutines subject verb]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch

from sclib.experiments.cache import Cache
from sclib.experiments.profile_settings import get_profile
from sclib.experiments.profiles import Cell
from sclib.experiments.runner import run_cell

OUT = Path(__file__).resolve().parents[1] / "data/results/language_region_check.csv"
COLUMNS = [
    "region", "task", "architecture", "regime", "subroutine", "base_seed", "base_comp_test_acc",
    "sub_acc_target", "sub_acc_other", "subnetwork_score", "ablation_score",
    "sampled_ablation_score", "kept_fraction", "mask_passed", "excluded", "l0_lambda",
    "git_rev",
]  # fmt: skip


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    cli.add_argument("--seeds", type=int, nargs="+", default=[0])
    cli.add_argument("--subroutines", nargs="+", default=["subject", "verb"])
    cli.add_argument("--regions", nargs="+", default=["from_layer_0", "from_layer_2"])
    args = cli.parse_args()
    torch.set_num_threads(1)
    standard = get_profile("language", "standard")
    cache = Cache()
    rows = []
    for region in args.regions:
        profile = replace(standard, regions=(region,))
        for seed in args.seeds:
            for sub in args.subroutines:
                cell = Cell("sv_agreement", "minilm", sub, "scratch", "singular", seed, 0)
                row = run_cell(cell, profile, cache, progress=False)
                rows.append({"region": region, **{k: row.get(k) for k in COLUMNS[1:]}})
                print({k: rows[-1][k] for k in COLUMNS if k in rows[-1]}, flush=True)
                new = pd.DataFrame(rows, columns=COLUMNS)
                old = pd.read_csv(OUT) if OUT.exists() else pd.DataFrame(columns=COLUMNS)
                keys = ["region", "subroutine", "base_seed"]
                merged = pd.concat([old, new]).drop_duplicates(keys, keep="last")
                merged.sort_values(keys).to_csv(OUT, index=False, float_format="%.6g")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
