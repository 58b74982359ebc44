"""05_explorer in a real browser: JupyterLab runs it, a widget changes, the output follows.

Run alone with ``pytest tests/browser -m browser -s`` (about a minute: JupyterLab and
Chromium start-up, then a quick vision cell and a quick language cell, cached or shipped
with sclib in sclib/lab/runs). Skips without Chromium or
Playwright (``.ci/browser-deps`` installs both). Screenshots: ``build/browser/``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS, ARTEFACTS = ROOT / "notebooks", ROOT / "build" / "browser"  # as in conftest.py

NOTEBOOK = "05_explorer.ipynb"
OPEN_TIMEOUT_MS = 120_000  # JupyterLab's page and the notebook
RUN_TIMEOUT_MS = 240_000  # run all cells: kernel start, imports, toy training or a cached run
UPDATE_TIMEOUT_MS = 120_000  # one ablation mode on both "+/-" sets


@pytest.mark.browser
@pytest.mark.slow
def test_explorer_runs_in_jupyterlab_and_follows_the_ablation_mode(lab, page):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    notebook = NOTEBOOKS / NOTEBOOK
    committed = notebook.read_bytes()
    times: dict[str, float] = {}
    (ARTEFACTS / "explorer_failure.png").unlink(missing_ok=True)
    start = time.perf_counter()
    try:
        page.goto(lab.url(f"lab/tree/{NOTEBOOK}?reset"), timeout=OPEN_TIMEOUT_MS)
        expect(page.locator(".jp-Notebook").first).to_be_visible(timeout=OPEN_TIMEOUT_MS)
        dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
        try:  # JupyterLab may still ask which kernel: the notebook's own (preselected)
            dialog.wait_for(state="visible", timeout=5_000)
            dialog.locator(".jp-mod-accept").click()
        except PlaywrightTimeout:
            pass
        times["open"] = time.perf_counter() - start

        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        accuracy = page.locator(".sclib-accuracy")
        expect(accuracy).to_contain_text("full model", timeout=RUN_TIMEOUT_MS)
        expect(page.locator(".sclib-source")).to_contain_text("Source:")
        expect(page.locator(".sclib-layers_image")).to_be_visible()
        times["run all"] = time.perf_counter() - start - times["open"]
        before = accuracy.inner_text()
        assert "[zero]" not in before

        mark = time.perf_counter()
        page.locator(".sclib-mode select").select_option("zero")
        expect(accuracy).to_contain_text("[zero]", timeout=UPDATE_TIMEOUT_MS)
        expect(accuracy).to_contain_text("ablation score (zero)")
        expect(page.locator(".sclib-status")).to_contain_text("showing", timeout=UPDATE_TIMEOUT_MS)
        times["mode change"] = time.perf_counter() - mark
        assert accuracy.inner_text() != before
        # a quick vision cell is on screen (from the cache, or shipped with sclib when the
        # cache is empty, as in CI): images, the Inside-Contact "+/-" sets
        expect(page.locator(".sclib-examples")).to_contain_text("odd image framed red")
        expect(accuracy).to_contain_text(re.compile(r"pm:(inside|contact)"))

        # then a quick language cell: sentences, the SV agreement "+/-" sets
        mark = time.perf_counter()
        page.locator(".sclib-task select").select_option("sv_agreement")
        expect(accuracy).to_contain_text(
            re.compile(r"pm:(subject|verb)"), timeout=UPDATE_TIMEOUT_MS
        )
        expect(page.locator(".sclib-examples")).to_contain_text("pm:", timeout=UPDATE_TIMEOUT_MS)
        expect(page.locator(".sclib-status")).to_contain_text("showing", timeout=UPDATE_TIMEOUT_MS)
        times["language cell"] = time.perf_counter() - mark
        # the notebook's last cell ran too: it prints the numbers behind the panels
        expect(
            page.locator(".jp-OutputArea-output", has_text=re.compile(r"^source: "))
        ).to_have_count(1, timeout=RUN_TIMEOUT_MS)
        assert page.locator("text=Error displaying widget").count() == 0

        explorer = page.locator(".sclib-explorer")
        explorer.scroll_into_view_if_needed()
        explorer.screenshot(path=ARTEFACTS / "explorer_widget.png")
        page.screenshot(path=ARTEFACTS / "explorer_page.png")
    except Exception:
        page.screenshot(path=ARTEFACTS / "explorer_failure.png")
        raise
    finally:
        changed = notebook.read_bytes() != committed
        if changed:  # autosave is off; if anything wrote the notebook, put it back
            notebook.write_bytes(committed)
        print("browser timings (s):", {k: round(v, 1) for k, v in times.items()})
    assert not changed, f"{NOTEBOOK} was written during the browser test (restored)"
