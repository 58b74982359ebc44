"""The tiny grid on a real SLURM gives the rows a local run gives.

Needs a SLURM that answers (``sinfo``): CI starts a one-node one with ``scripts/slurm-up``
(``make slurm-up`` on a Debian/Ubuntu laptop). Elsewhere the test skips and says so.
"""

from __future__ import annotations

import shutil
import subprocess

import pandas as pd
import pytest

from sclib.grid import main
from sclib.stats.vocabulary import SCORE_COLUMNS

ENABLE = "start a one-node SLURM with `make slurm-up` (scripts/slurm-up, Debian/Ubuntu, sudo)"


def _slurm_answers() -> str | None:
    """None when SLURM answers, else why not."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "no SLURM here (sinfo/sbatch not on PATH)"
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError) as error:
        return f"sinfo failed: {error}"
    if out.returncode != 0:
        return f"no SLURM daemon answers: {out.stderr.strip()[:200]}"
    if not {"idle", "mixed", "allocated"} & set(out.stdout.split()):
        return f"no SLURM node is up (sinfo says {out.stdout.split()})"
    return None


@pytest.mark.slurm
@pytest.mark.slow
def test_tiny_grid_on_slurm_equals_a_local_run(tmp_path):
    why = _slurm_answers()
    if why is not None:
        pytest.skip(f"{why}; to run this test, {ENABLE}")
    tables = {}
    for executor, extra in (
        ("slurm", ["--cpus-per-job", "1", "--time-min", "10", "--retries", "0"]),
        ("local", ["--workers", "2"]),
    ):
        cache, out = tmp_path / executor, tmp_path / f"{executor}.csv"
        common = ["--profile", "tiny", "--cache-dir", str(cache)]
        assert main(["run", *common, "--executor", executor, "--quiet", *extra]) == 0
        assert main(["collect", *common, "--out", str(out)]) == 0
        tables[executor] = pd.read_csv(out)
    slurm, local = tables["slurm"], tables["local"]
    assert len(slurm) == len(local) == 4  # two subroutines in each domain's job
    columns = ["domain", "task", "architecture", "subroutine", "regime", "base_model_id"]
    scores = ["subnetwork_score", *SCORE_COLUMNS.values(), "sub_l0", "base_comp_test_acc"]
    pd.testing.assert_frame_equal(slurm[columns + scores], local[columns + scores])
    assert (slurm["run_id"] == local["run_id"]).all()
