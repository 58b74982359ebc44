"""Runs shipped with the repository, so the explorer shows real subnetworks at once.

Without this, ``05_explorer`` offers only the toy until a machine has spent the time of
``make figures`` filling ``data/cache``. A *shipped run* is one cached run reduced to what
the explorer shows, small enough to commit (``sclib/lab/runs/``, about 170 kB for the
four runs; package data, so a classroom's ``pip install ".[class]"`` and Colab have them):

- its mask, **one bit per weight** (``numpy.packbits``) with each layer's shape and size;
- the model's **choice on every problem** of both "+/-" test sets under every view (the
  full model, the subnetwork alone, each ablation mode), computed once from the cached
  model when the run was shipped, with the ablations' warnings;
- its run row (accuracies, scores, provenance) and how it was shipped.

The model itself is **not** shipped (the quick MiniLM is 74 MB): the explorer needs only
its choices. The test sets are not shipped either: they are regenerated from the task's
seeds in a fraction of a second (no ``transformers`` needed), and a fingerprint of their
answers checks that they are the sets the choices were computed on. So a shipped run
shows exactly what the cached run showed, for the views it offers; what it cannot do is
run a view that was not computed (there is none: ``VIEWS`` are all stored).

    python -m sclib.lab.shipped          # rewrite sclib/lab/runs/ from the cache

re-ships ``SHIPPED_CELLS`` (the quick vision cell of notebooks 02-04, Inside-Contact on
the ResNet from scratch, and the quick language cell, SV agreement on MiniLM from
scratch; both subroutines each) from ``data/cache`` (``make figures`` fills it).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from sclib.experiments.cache import Cache
from sclib.experiments.profile_settings import get_profile
from sclib.experiments.profiles import Cell, Profile
from sclib.paths import CACHE_DIR
from sclib.provenance import provenance
from sclib.tasks.base import ProblemSet

SHIPPED_DIR = Path(__file__).parent / "runs"  # package data: pip installs carry it too
FORMAT = 1
# (domain, profile, cell) of the runs `python -m sclib.lab.shipped` ships
SHIPPED_CELLS: tuple[tuple[str, str, Cell], ...] = tuple(
    (domain, "quick", Cell(task, architecture, sub, "scratch", variant, 0, 0))
    for domain, task, architecture, variant, subs in (
        ("vision", "inside_contact", "resnet", "none", ("inside", "contact")),
        ("language", "sv_agreement", "minilm", "singular", ("subject", "verb")),
    )
    for sub in subs
)
# run-row fields kept in a shipped run (the explorer's label and the numbers to check)
ROW_FIELDS = (
    "base_comp_test_acc", "ablation_score", "subnetwork_score", "kept_fraction",
    "excluded", "mask_passed", "device", "git_rev", "torch_version", "torch_threads",
)  # fmt: skip


class FrozenMasks:
    """A subnetwork without its model: which weights it keeps, layer by layer.

    Offers what the explorer reads of a ``sclib.masks.MaskSet``: ``kept()``, ``size()``,
    ``kept_fraction()`` and ``stats()``, with the same meanings (sizes count the nonzero,
    existing weights, as a sparse model's masks do).
    """

    def __init__(self, kept: Mapping[str, torch.Tensor], sizes: Mapping[str, int]) -> None:
        if set(kept) != set(sizes):
            raise ValueError(f"kept layers {sorted(kept)} and sized layers {sorted(sizes)} differ")
        self._kept = {name: k.bool() for name, k in kept.items()}
        self._sizes = {name: int(sizes[name]) for name in kept}

    def kept(self) -> dict[str, torch.Tensor]:
        """Name -> boolean tensor of the subnetwork."""
        return dict(self._kept)

    def size(self) -> int:
        """How many weights the masks can keep (the nonzero, existing ones)."""
        return sum(self._sizes.values())

    def kept_fraction(self) -> float:
        """Fraction of the nonzero (existing) masked weights in the subnetwork."""
        return sum(int(k.sum()) for k in self._kept.values()) / max(1, self.size())

    def stats(self) -> pd.DataFrame:
        """One row per masked weight: layer, size, kept (count), fraction (kept / size)."""
        rows = []
        for name, k in self._kept.items():
            kept, size = int(k.sum()), self._sizes[name]
            rows.append(
                {"layer": name, "size": size, "kept": kept, "fraction": kept / max(1, size)}
            )
        return pd.DataFrame(rows, columns=["layer", "size", "kept", "fraction"])


def slug(domain: str, profile: str, cell: Cell) -> str:
    """The shipped run's file name (without suffix).

    >>> slug("vision", "quick", Cell("inside_contact", "resnet", "inside", "scratch"))
    'vision-quick-inside_contact-resnet-scratch-none-inside-b0-m0'
    """
    return (
        f"{domain}-{profile}-{cell.task}-{cell.architecture}-{cell.regime}-{cell.variant}-"
        f"{cell.subroutine}-b{cell.base_seed}-m{cell.mask_seed}"
    )


def answers_fingerprint(tests: Mapping[str, ProblemSet]) -> str:
    """A short hash of the test sets' answers (the odd item's position of every problem),
    so a shipped run's choices are never scored against other problems."""
    digest = hashlib.sha256()
    for name in sorted(tests):
        digest.update(name.encode())
        digest.update(tests[name].odd_index.to(torch.int64).numpy().tobytes())
    return digest.hexdigest()[:16]


def _plain(value: Any) -> Any:
    """A JSON-safe copy of a run-row value (numpy scalars to Python, NaN to None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def ship(
    domain: str, profile_name: str, cell: Cell, cache: Cache, out_dir: Path | str = SHIPPED_DIR
) -> list[Path]:
    """Write the shipped form of one cached run (``cell`` of profile ``profile_name``) to
    ``out_dir``: ``<slug>.json`` and ``<slug>.npz``. Reads the cache only (raises
    ``LookupError`` when the run is not there); returns the paths written."""
    from sclib.lab.explorer import VIEWS, Subnetworks

    profile = get_profile(domain, profile_name)
    choice = {**dataclasses.asdict(cell), "domain": domain, "profile": profile_name}
    subnetworks = Subnetworks(runs=pd.DataFrame([choice]), cache=cache, n_test=profile.n_test)
    subject = subnetworks.select(0)
    masks = subject.masks
    arrays: dict[str, np.ndarray] = {}
    layers = []
    sizes = masks.stats().set_index("layer")["size"]
    for i, (name, kept) in enumerate(masks.kept().items()):
        arrays[f"mask{i}"] = np.packbits(kept.cpu().numpy().reshape(-1))
        layers.append({"name": name, "shape": list(kept.shape), "size": int(sizes[name])})
    views = {}
    for view in VIEWS:
        for set_name, pred in subnetworks.predictions(view).items():
            key = f"pred/{view}/{set_name}"
            arrays[key] = (
                np.full(len(subject.tests[set_name]), -1, np.int8)
                if pred is None
                else pred.cpu().numpy().astype(np.int8)
            )
        views[view] = subnetworks.accuracies(view)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = slug(domain, profile_name, cell)
    record = {
        "format": FORMAT,
        "domain": domain,
        "profile": profile_name,
        "cell": dataclasses.asdict(cell),
        "n_test": profile.n_test,
        "sets": list(subject.tests),
        "answers": answers_fingerprint(subject.tests),
        "layers": layers,
        "accuracies": views,
        "notes": dict(subject.notes),
        "row": {k: _plain(subject.row.get(k)) for k in ROW_FIELDS if subject.row is not None},
        "shipped_with": provenance(),
    }
    json_path, npz_path = out_dir / f"{name}.json", out_dir / f"{name}.npz"
    json_path.write_text(json.dumps(record, indent=1, default=str) + "\n")
    np.savez_compressed(npz_path, **arrays)
    return [json_path, npz_path]


def shipped_choices(folder: Path | str | None = SHIPPED_DIR) -> pd.DataFrame:
    """One row per shipped run in ``folder`` (columns of the explorer's choice table,
    ``source`` = ``"shipped"``, ``path`` = its JSON file); empty when there are none."""
    rows = []
    for path in sorted(Path(folder).glob("*.json")) if folder is not None else []:
        try:
            record = json.loads(path.read_text())
            if record.get("format") != FORMAT:
                continue
            row = {**record["cell"], "domain": record["domain"], "profile": record["profile"]}
        except (OSError, ValueError, KeyError, TypeError):
            continue
        excluded = bool(record.get("row", {}).get("excluded") or False)
        rows.append({**row, "excluded": excluded, "source": "shipped", "path": str(path)})
    return pd.DataFrame(rows)


def shipped_subject(choice: pd.Series | Mapping[str, Any], n_test: int):
    """The ``sclib.lab.subjects.Subject`` of a shipped run (a row of ``shipped_choices``):
    its masks, its test sets regenerated from the task's seeds (the first ``n_test``
    problems of each), and the model's stored choices under every view. Raises
    ``LookupError`` when the regenerated sets are not the ones it was shipped with."""
    from sclib.experiments.base_models import task_for
    from sclib.lab.subjects import Subject, run_label

    path = Path(choice["path"])
    record = json.loads(path.read_text())
    cell = Cell(**record["cell"])
    profile: Profile = get_profile(record["domain"], record["profile"])
    task = task_for(cell, profile)
    other = task.other(cell.subroutine)
    full = {s: task.dataset(s, "test", int(record["n_test"])) for s in record["sets"]}
    if answers_fingerprint(full) != record["answers"]:
        raise LookupError(
            f"the shipped run {path.name} was computed on other test sets than this version "
            "of sclib generates; re-ship it with `python -m sclib.lab.shipped` (after "
            "`make figures`)"
        )
    with np.load(path.with_suffix(".npz")) as arrays:
        kept, sizes = {}, {}
        for i, layer in enumerate(record["layers"]):
            n = int(np.prod(layer["shape"]))
            bits = np.unpackbits(arrays[f"mask{i}"], count=n).astype(bool)
            kept[layer["name"]] = torch.from_numpy(bits.reshape(layer["shape"]))
            sizes[layer["name"]] = layer["size"]
        predictions = {}
        for key in arrays.files:
            if key.startswith("pred/"):
                _, view, set_name = key.split("/", 2)
                pred = torch.from_numpy(arrays[key][:n_test].astype(np.int64))
                predictions.setdefault(view, {})[set_name] = None if (pred < 0).any() else pred
    tests = {s: full[s].subset(n_test) for s in record["sets"]}
    row = record.get("row", {})
    label_choice = {**record["cell"], "profile": record["profile"], "current": True}
    label = (
        f"run shipped with sclib ({run_label(label_choice)}; "
        f"computed on {row.get('device', '?')}, git {row.get('git_rev', '?')}; the model's "
        "choices stored, not recomputed)"
    )
    return Subject(
        label, record["domain"], task, cell.subroutine, other, None, FrozenMasks(kept, sizes),
        tests, seed=cell.mask_seed, row=row, predictions=predictions,
        notes=dict(record.get("notes", {})),
    )  # fmt: skip


def ship_all(
    cells: Iterable[tuple[str, str, Cell]] = SHIPPED_CELLS,
    cache: Cache | None = None,
    out_dir: Path | str = SHIPPED_DIR,
) -> list[Path]:
    """``ship`` every (domain, profile, cell) of ``cells``; the paths written."""
    cache = cache if cache is not None else Cache()
    written = []
    for domain, profile_name, cell in cells:
        written += ship(domain, profile_name, cell, cache, out_dir)
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m sclib.lab.shipped``: re-ship ``SHIPPED_CELLS`` from the cache."""
    cli = argparse.ArgumentParser(
        prog="python -m sclib.lab.shipped", description=__doc__.split("\n")[0]
    )
    cli.add_argument("--cache-dir", type=Path, default=CACHE_DIR, help="default: data/cache")
    cli.add_argument("--out", type=Path, default=SHIPPED_DIR, help="default: sclib/lab/runs")
    args = cli.parse_args(argv)
    for path in ship_all(cache=Cache(args.cache_dir), out_dir=args.out):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
