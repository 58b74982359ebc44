"""An on-disk cache keyed by full configuration, safe against interruption.

Every expensive result (a trained base model, a mask, a run's row) is stored under
``<root>/<kind>/<key>/`` where ``key`` hashes the complete configuration that made it and,
for the kinds in ``CODE``, the source of the code that made it (``code_fingerprint``): a
change to that code recomputes exactly the entries it affects, never reuses a stale one.
An entry is written into a temporary folder and renamed into place only when complete,
and carries a checksum of its payload: a partial or corrupted entry is detected, removed
and recomputed, never read. While an entry is computed its lock file
(``<root>/<kind>/<key>.lock``, ``sclib.experiments.lock``) keeps every other worker sharing
the folder, on this machine or another, from computing it too: they wait and read it.

>>> import tempfile
>>> cache = Cache(tempfile.mkdtemp())
>>> cache.get_or_compute("demo", {"a": 1}, lambda: {"x": 2})
{'x': 2}
>>> cache.get_or_compute("demo", {"a": 1}, lambda: 1 / 0)  # cached: not recomputed
{'x': 2}
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from sclib.config_keys import omitted
from sclib.experiments.lock import EntryLock
from sclib.paths import CACHE_DIR

DEFAULT_ROOT = CACHE_DIR

# The code each kind of entry is made by (modules or packages, whose .py files are hashed).
# Datasets are keyed on their generator's source by ``sclib.tasks.vision`` itself.
_MODEL_CODE = ("sclib.tasks", "sclib.models", "sclib.train", "sclib.batches", "sclib.runtime")
_PRETRAINING_CODE = (*_MODEL_CODE, "sclib.pretrain", "sclib.experiments.base_models")
# a weight-sparse base model is projected onto the maskable weights (sclib.sparsity)
_BASE_CODE = (*_PRETRAINING_CODE, "sclib.sparsity", "sclib.masks")
CODE: dict[str, tuple[str, ...]] = {
    "pretraining": _PRETRAINING_CODE,
    "base_models": _BASE_CODE,
    "masks": (*_BASE_CODE, "sclib.masks", "sclib.experiments.search"),
    "runs": (
        *_BASE_CODE,
        "sclib.masks",
        "sclib.ablation",
        "sclib.experiments.search",
        "sclib.experiments.runner",
        "sclib.stats.scores",
        "sclib.stats.vocabulary",
    ),
}
# notebook 04's per-rung rows and probes: a run's code and their own
CODE["rungs"] = (*CODE["runs"], "sclib.experiments.sensitivity")
CODE["probes"] = (*CODE["runs"], "sclib.experiments.collect", "sclib.experiments.probe")


def source_files(module: str) -> list[Path]:
    """The .py files of a module, or of every module in a package (sorted)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ValueError(f"no source for module {module!r}")
    origin = Path(spec.origin)
    if spec.submodule_search_locations:  # a package: all its .py files
        return sorted(origin.parent.rglob("*.py"))
    return [origin]


def source_bytes(module: str) -> bytes:
    """The bytes of a module's source files, each preceded by its name."""
    files = source_files(module)
    return b"".join(f.name.encode() + b"\0" + f.read_bytes() for f in files)


@functools.cache
def module_fingerprint(module: str) -> str:
    """A hash of a module's (or package's) source bytes, computed once per process."""
    return hashlib.sha256(source_bytes(module)).hexdigest()[:16]


def code_fingerprint(kind: str) -> str:
    """A hash of the source of the code that makes entries of ``kind`` (``CODE``); ``""``
    for a kind not in ``CODE``.

    >>> code_fingerprint("masks") != code_fingerprint("base_models") != ""
    True
    """
    modules = CODE.get(kind, ())
    if not modules:
        return ""
    text = "".join(f"{m}:{module_fingerprint(m)};" for m in modules)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _fields(obj: Any) -> Any:
    """``dataclasses.asdict`` without the key-neutral fields at their defaults."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: _fields(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if not omitted(obj, f)
        }
    if isinstance(obj, (list, tuple)):
        return type(obj)(_fields(v) for v in obj)
    if isinstance(obj, dict):
        return {k: _fields(v) for k, v in obj.items()}
    return obj


def _plain(obj: Any) -> Any:
    """A JSON-able, canonical form of configs (dataclasses, tuples, paths).

    >>> from sclib.config_keys import key_neutral
    >>> @dataclasses.dataclass
    ... class Opt:
    ...     a: int = 1
    ...     new: bool = key_neutral(False)
    >>> _plain(Opt()), _plain(Opt(new=True))
    ({'__type__': 'Opt', 'a': 1}, {'__type__': 'Opt', 'a': 1, 'new': True})
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {"__type__": type(obj).__name__, **_plain(_fields(obj))}
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in sorted(obj.items())}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and obj.is_integer():
        return obj  # keep 1.0 distinct from 1 in the JSON text
    return obj


def config_key(config: Any) -> str:
    """A stable hash of a configuration (dataclass, dict, list of them).

    >>> config_key({"b": 1, "a": (2, 3)}) == config_key({"a": [2, 3], "b": 1})
    True
    """
    text = json.dumps(_plain(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


class Cache:
    """Results stored on disk by (kind, config). ``root=None`` keeps nothing on disk."""

    def __init__(self, root: Path | str | None = DEFAULT_ROOT) -> None:
        self.root = Path(root) if root is not None else None
        self.hits = 0
        self.misses = 0

    def key(self, kind: str, config: Any) -> str:
        """The name of the entry (kind, config): ``config_key`` of the configuration and,
        for a kind in ``CODE``, of the fingerprint of the code that makes it."""
        code = code_fingerprint(kind)
        return config_key({"config": config, "code": code}) if code else config_key(config)

    def _dir(self, kind: str, config: Any) -> Path:
        assert self.root is not None
        return self.root / kind / self.key(kind, config)

    def has(self, kind: str, config: Any) -> bool:
        """Whether an entry for (kind, config) is on disk (cheap: its checksum is not read)."""
        if self.root is None:
            return False
        entry = self._dir(kind, config)
        return (entry / "meta.json").exists() and (entry / "payload.pt").exists()

    def lock(self, kind: str, config: Any) -> EntryLock:
        """The lock of the entry (kind, config): held while it is computed."""
        assert self.root is not None
        return EntryLock(self._dir(kind, config).with_suffix(".lock"))

    def load(self, kind: str, config: Any) -> Any | None:
        """The stored payload, or None when absent, partial or corrupted (then removed)."""
        if self.root is None:
            return None
        entry = self._dir(kind, config)
        try:
            meta = json.loads((entry / "meta.json").read_text())
            blob = (entry / "payload.pt").read_bytes()
            if meta["sha256"] != hashlib.sha256(blob).hexdigest():
                raise ValueError("checksum mismatch")
            if meta["config"] != _plain(config):
                raise ValueError("config mismatch")
            return torch.load(io.BytesIO(blob), weights_only=False)
        except FileNotFoundError:
            if entry.exists():  # a folder without its files: partial, drop it
                shutil.rmtree(entry, ignore_errors=True)
            return None
        except Exception:
            shutil.rmtree(entry, ignore_errors=True)
            return None

    def save(self, kind: str, config: Any, payload: Any) -> None:
        """Store ``payload`` atomically: complete or not at all."""
        if self.root is None:
            return
        entry = self._dir(kind, config)
        entry.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        blob = buffer.getvalue()
        meta = {
            "config": _plain(config),
            "code": code_fingerprint(kind),
            "sha256": hashlib.sha256(blob).hexdigest(),
        }
        tmp = Path(tempfile.mkdtemp(dir=entry.parent, prefix=".tmp-"))
        try:
            (tmp / "payload.pt").write_bytes(blob)
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
            if entry.exists():
                shutil.rmtree(entry)
            os.replace(tmp, entry)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def get_or_compute(self, kind: str, config: Any, compute: Callable[[], Any]) -> Any:
        """The cached payload for (kind, config), computing and storing it when missing.

        Computed under the entry's lock: a worker that finds it held waits, then reads what
        the holder stored (or computes it, if the holder died without storing it).
        """
        payload = self.load(kind, config)
        if payload is None and self.root is not None:
            with self.lock(kind, config):
                payload = self.load(kind, config)  # another worker may have stored it meanwhile
                if payload is None:
                    return self._compute(kind, config, compute)
        if payload is not None:
            self.hits += 1
            return payload
        return self._compute(kind, config, compute)

    def _compute(self, kind: str, config: Any, compute: Callable[[], Any]) -> Any:
        self.misses += 1
        payload = compute()
        self.save(kind, config, payload)
        return payload
