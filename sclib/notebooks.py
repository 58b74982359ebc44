"""``make figures``: run every numbered notebook headlessly, in order, into ``figures/``.

Each notebook ``notebooks/NN_*.ipynb`` is executed by papermill with its parameters
(``PROFILE`` among them) into ``build/notebooks/`` (executed copies, not committed); the
notebooks write their figures and the data behind them to ``figures/``. Finished runs are
cached on disk (``data/cache/``), so an interrupted ``make figures`` resumes where it
stopped.

    python -m sclib.notebooks --profile quick [--only 02]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sclib.paths import NOTEBOOKS_DIR, ROOT

NOTEBOOKS = NOTEBOOKS_DIR
BUILD = ROOT / "build" / "notebooks"
PROFILES = ("quick", "full", "paper")  # the names of sclib.experiments.profile_settings.PROFILES


def numbered_notebooks(only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks in order, optionally only those whose number is in ``only``."""
    found = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if only:
        unknown = [o for o in only if not any(p.name.startswith(o) for p in found)]
        if unknown:
            valid = ", ".join(p.name[:2] for p in found)
            raise ValueError(f"no notebook numbered {unknown}; choose from: {valid}")
        found = [p for p in found if any(p.name.startswith(o) for o in only)]
    return found


def run(profile: str = "quick", only: list[str] | None = None) -> None:
    """Execute the notebooks with papermill, printing one progress line per notebook."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")
    import logging

    import papermill

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("papermill").setLevel(logging.INFO)

    notebooks = numbered_notebooks(only)
    BUILD.mkdir(parents=True, exist_ok=True)
    for i, nb in enumerate(notebooks, 1):
        start = time.perf_counter()
        print(f"[{i}/{len(notebooks)}] {nb.name} (profile {profile}) ...", flush=True)
        papermill.execute_notebook(
            str(nb),
            str(BUILD / nb.name),
            parameters={"PROFILE": profile},
            cwd=str(NOTEBOOKS),
            kernel_name="python3",
            progress_bar=False,
            log_output=True,  # the notebooks' own progress lines (one per run) reach the console
        )
        print(
            f"[{i}/{len(notebooks)}] {nb.name} done in {time.perf_counter() - start:.0f} s",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile",
        default="quick",
        help="quick (2-core CPU), full (GPU) or paper (the paper's settings, GPU)",
    )
    parser.add_argument("--only", nargs="*", help="notebook numbers, e.g. 02 03")
    args = parser.parse_args(argv)
    try:
        run(args.profile, args.only)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
