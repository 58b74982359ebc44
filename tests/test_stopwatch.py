"""The stopwatch counts each second once, under the stage that was running it."""

from __future__ import annotations

import time

from sclib import stopwatch


def test_nested_stage_time_is_taken_out_of_its_parent_and_renaming_moves_all_of_it():
    before = stopwatch.totals()
    with stopwatch.stage("t_outer") as outer:
        time.sleep(0.05)
        with stopwatch.stage("t_inner"):
            time.sleep(0.1)
        time.sleep(0.05)
        outer.name = "t_outer_renamed"
    spent = stopwatch.since(before)
    assert "t_outer" not in spent
    assert 0.09 <= spent["t_outer_renamed"] < 0.15  # its own 0.1 s, not the inner 0.1 s
    assert 0.09 <= spent["t_inner"] < 0.15


def test_stage_columns_name_every_stage_and_fill_missing_with_zero():
    cols = stopwatch.stage_columns({"base_training": 12.3456})
    assert list(cols) == [f"time_{s}_s" for s in stopwatch.STAGES]
    assert cols["time_base_training_s"] == 12.346 and cols["time_data_s"] == 0.0
