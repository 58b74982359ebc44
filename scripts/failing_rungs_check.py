"""Where the mask search's time goes, read from the masks in the cache (issue #13).

For every trained mask in ``data/cache/masks`` (any profile; the tiny test masks left out),
its training history (per-epoch training cross-entropy, kept fraction) and whether it
passed (validation mask-task accuracy >= 0.9 and not stalled). Prints the share of
mask-training time spent on failing rungs that trained to their last epoch, and how their
training cross-entropy at half-time compares with the passing masks': the evidence for (or
against) a rule that stops such rungs early without ever stopping a passing one. Reads
only (``torch.load(mmap=True)``): seconds.

    python scripts/failing_rungs_check.py [--cache-dir data/cache]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import torch

from sclib.paths import CACHE_DIR

THRESHOLD = 0.9  # every profile's selection_threshold but tiny's
MIN_SUBROUTINE = 500  # the tiny profile's masks train on a few dozen problems


def masks_table(cache_dir: Path) -> pd.DataFrame:
    """One row per cached mask: architecture, planned and trained epochs, time, histories."""
    rows = []
    for entry in sorted((cache_dir / "masks").iterdir()):
        meta_path = entry / "meta.json"
        if not meta_path.exists():
            continue
        config = json.loads(meta_path.read_text())["config"]
        try:
            info = torch.load(entry / "payload.pt", weights_only=False, mmap=True)["info"]
        except Exception:  # a partial entry
            continue
        history = info.get("history", {})
        rows.append(
            {
                "architecture": config["base"].get("architecture"),
                "n_subroutine": config["n_subroutine"],
                "planned": config["train"]["epochs"],
                "epochs": len(history.get("epoch", [])),
                "time_s": info.get("train_time_s", 0.0),
                "val": info["val_mask_task_acc"],
                "stalled": bool(history.get("stalled", False)),
                "ce": history.get("ce", []),
            }
        )
    table = pd.DataFrame(rows)
    table = table[(table["n_subroutine"] >= MIN_SUBROUTINE) & (table["epochs"] > 0)].copy()
    table["passed"] = (table["val"] >= THRESHOLD) & ~table["stalled"]
    half = table["planned"] // 2
    table["ce_half"] = [
        c[h] if len(c) > h else float("nan") for c, h in zip(table["ce"], half, strict=True)
    ]
    table["ce_last"] = table["ce"].map(lambda c: c[-1])
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    args = parser.parse_args(argv)
    table = masks_table(args.cache_dir)
    full = table[~table["passed"] & (table["epochs"] == table["planned"])]
    hours = table["time_s"].sum() / 3600
    print(
        f"{len(table)} masks ({int(table['passed'].sum())} passing), {hours:.1f} mask-training "
        f"hours; failing rungs trained to their last epoch: {len(full)} masks, "
        f"{full['time_s'].sum() / 3600:.1f} hours ({full['time_s'].sum() / 3600 / hours:.0%})"
    )
    print("\nfailing rungs trained to their last epoch, per architecture:")
    by_arch = full.groupby("architecture").agg(
        masks=("time_s", "size"),
        hours=("time_s", lambda s: s.sum() / 3600),
        median_val=("val", "median"),
    )
    print(by_arch.round(2).to_string())
    print("\ntraining cross-entropy at half-time (passing vs failing-to-the-end), quantiles:")
    for name, group in (("passing", table[table["passed"]]), ("failing", full)):
        q = group.groupby("architecture")["ce_half"].quantile([0.05, 0.5, 0.95, 1.0]).unstack()
        print(name, q.round(2).to_string(), sep="\n")
    print(
        "\nhighest final training cross-entropy of a passing mask:",
        round(table.loc[table["passed"], "ce_last"].max(), 3),
        "(ln 4 = 1.386 is chance)",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
