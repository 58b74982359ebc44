"""Where sclib reads and writes on disk, relative to the repository root.

One place for every folder of ``../shared/ARCHITECTURE.md``, "Where things live on disk":
``data/reference`` (the paper's runs), ``data/cache`` (not committed), ``data/results``
(committed results of a profile) and ``figures``.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "data"
CACHE_DIR = DATA_DIR / "cache"
REFERENCE_DIR = DATA_DIR / "reference"
RESULTS_DIR = DATA_DIR / "results"
FIGURES_DIR = ROOT / "figures"
NOTEBOOKS_DIR = ROOT / "notebooks"
