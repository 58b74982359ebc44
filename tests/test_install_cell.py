"""The classroom notebooks' first code cell: a no-op where sclib is installed, and on a
fresh kernel (Colab) a clear error while the repository address is still the placeholder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [
    "notebooks/00_quickstart.ipynb",
    "notebooks/05_explorer.ipynb",
    "notebooks/06_exercises.ipynb",
    "notebooks/solutions/06_exercises_solutions.ipynb",
]


def _install_cell(path: str) -> str:
    cells = json.loads((ROOT / path).read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    return "".join(code[0]["source"])


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_the_install_cell_is_a_no_op_here_and_names_the_placeholder_elsewhere(path):
    interactiveshell = pytest.importorskip("IPython.core.interactiveshell")
    shell = interactiveshell.InteractiveShell.instance()
    source = _install_cell(path)
    assert "%pip install" in source and "SCLIB_REPOSITORY" in source
    assert shell.run_cell(source).success  # sclib is installed: nothing happens
    fresh = source.replace("import sclib ", "import sclib_not_installed ", 1)
    result = shell.run_cell(fresh)  # a fresh kernel with the placeholder left in
    assert isinstance(result.error_in_exec, RuntimeError)
    assert "SCLIB_REPOSITORY is still the placeholder" in str(result.error_in_exec)
