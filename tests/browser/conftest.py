"""JupyterLab and Chromium for the browser tests: started headless, always shut down.

``lab`` starts JupyterLab on 127.0.0.1 (a free port, a random token, ``--no-browser``,
temporary config/runtime/data/settings folders, the repository's ``notebooks/`` as root,
autosave off so no notebook is ever written) and stops it at teardown, also on failure.
``page`` is a Chromium tab driven by Playwright: Debian's ``/usr/bin/chromium``, never a
downloaded browser. Both skip, with the reason, when Chromium or Playwright is missing
(``.ci/browser-deps`` installs them). Artefacts (screenshots, the server log) go to
``build/browser/``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ARTEFACTS = ROOT / "build" / "browser"
CHROMIUM = os.environ.get("SCLIB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
START_TIMEOUT_S = 90  # JupyterLab answering its API
STOP_TIMEOUT_S = 20  # each shutdown step before the next, harder one
# JupyterLab user settings: nothing saved, nothing fetched, every cell rendered
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {
        "checkForUpdates": False,
        "doNotDisturbMode": True,
        "fetchNews": "false",
    },
    "@jupyterlab/notebook-extension/tracker": {
        "windowingMode": "none",
        "autoStartDefaultKernel": True,
    },
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives JupyterLab in a real (headless) browser; skips without one"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    """A running JupyterLab: ``url(path)`` gives an address with the token."""

    port: int
    token: str
    process: subprocess.Popen
    log: Path

    def url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path}{sep}token={self.token}"

    def api(self, path: str, method: str = "GET", timeout: float = 5) -> bytes:
        request = urllib.request.Request(self.url(f"api/{path}"), method=method)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()


def _write_settings(folder: Path) -> None:
    for plugin, values in LAB_SETTINGS.items():
        path = folder / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _stop(lab: Lab) -> None:
    """Shut down kernels and server: the REST API first, then SIGTERM, then SIGKILL."""
    proc = lab.process
    if proc.poll() is None:
        try:
            lab.api("shutdown", method="POST")
        except (OSError, urllib.error.URLError):
            pass
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            break
        os.killpg(proc.pid, sig)  # the server was started in its own process group
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            continue


def _require_browser():
    """Playwright's sync API, or a skip saying what is missing."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/browser-deps)")
    pytest.importorskip("jupyterlab", reason="JupyterLab is not installed (make setup)")
    return pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed (pip install playwright)"
    )


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """JupyterLab serving ``notebooks/``, stopped at teardown whatever happened."""
    _require_browser()  # skip before starting anything
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    dirs = {name: tmp_path / name for name in ("config", "runtime", "data", "ipython")}
    for path in dirs.values():
        path.mkdir()
    _write_settings(tmp_path / "settings")
    (dirs["config"] / "jupyter_server_config.json").write_text(
        json.dumps({"LabApp": {"news_url": None}})
    )
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        IPYTHONDIR=str(dirs["ipython"]),
        # the project's kernel first, as `make lab` does
        JUPYTER_PATH=str(Path(sys.prefix) / "share" / "jupyter"),
        JUPYTER_PLATFORM_DIRS="1",
    )
    port, token = _free_port(), secrets.token_hex(16)
    log = ARTEFACTS / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={NOTEBOOKS}", f"--LabServerApp.user_settings_dir={tmp_path / 'settings'}",
        f"--LabServerApp.workspaces_dir={tmp_path / 'workspaces'}",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly", "--ServerApp.terminals_enabled=False",
        f"--FileCheckpoints.checkpoint_dir={tmp_path / 'checkpoints'}",  # not in notebooks/
    ]  # fmt: skip
    if os.geteuid() == 0:  # CI containers run as root
        command.append("--allow-root")
    with open(log, "w") as out:
        process = subprocess.Popen(
            command, env=env, cwd=NOTEBOOKS, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = Lab(port, token, process, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"JupyterLab exited with {process.returncode}; see {log}")
            try:
                server.api("status")
                break
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer within {START_TIMEOUT_S} s; see {log}")
                time.sleep(0.5)
        yield server
    finally:
        _stop(server)


@pytest.fixture
def page(lab: Lab):
    """A Chromium tab (Playwright, Debian's chromium), closed at teardown."""
    sync_api = _require_browser()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=60_000
        )
        try:
            tab = browser.new_page(viewport={"width": 1500, "height": 1100})
            tab.set_default_timeout(60_000)
            yield tab
        finally:
            browser.close()
