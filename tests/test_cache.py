from __future__ import annotations

import json
import multiprocessing
import os
import socket
import time
from dataclasses import dataclass

import pytest
import torch

from sclib.experiments import cache as cache_module
from sclib.experiments.cache import CODE, Cache, config_key
from sclib.experiments.lock import EntryLock, is_stale, lock_holder


@dataclass(frozen=True)
class Cfg:
    lr: float = 1e-3
    layers: tuple[int, ...] = (1, 2)


def test_key_depends_on_every_field():
    assert config_key(Cfg()) == config_key(Cfg())
    assert config_key(Cfg()) != config_key(Cfg(lr=1e-2))
    assert config_key(Cfg()) != config_key(Cfg(layers=(1, 3)))
    assert config_key({"a": 1.0}) != config_key({"a": 1.5})


@pytest.fixture
def edited_source(monkeypatch):
    """``edit(module)``: from then on the fingerprints see ``module``'s source changed."""
    real = cache_module.source_bytes

    def edit(target: str) -> None:
        def changed(module: str) -> bytes:
            return real(module) + (b"\n# edited\n" if module == target else b"")

        monkeypatch.setattr(cache_module, "source_bytes", changed)
        cache_module.module_fingerprint.cache_clear()

    yield edit
    monkeypatch.undo()
    cache_module.module_fingerprint.cache_clear()


def test_keys_change_with_the_code_that_made_the_entry(tmp_path, edited_source):
    cache, config = Cache(tmp_path), {"a": 1}
    kinds = ("pretraining", "base_models", "masks", "runs")
    before = {kind: cache.key(kind, config) for kind in kinds}
    cache.save("masks", config, {"x": 1})
    edited_source("sclib.plots.modularity")  # used by no entry: nothing changes
    assert {kind: cache.key(kind, config) for kind in kinds} == before
    assert cache.load("masks", config) == {"x": 1}
    edited_source("sclib.experiments.runner")  # makes run rows only
    after = {kind: cache.key(kind, config) for kind in kinds}
    assert [after[k] == before[k] for k in kinds] == [True, True, True, False]
    edited_source("sclib.masks")  # base models (sparse ones are projected), masks, rows
    after = {kind: cache.key(kind, config) for kind in kinds}
    assert [after[k] == before[k] for k in kinds] == [True, False, False, False]
    assert cache.load("masks", config) is None and not cache.has("masks", config)
    edited_source("sclib.tasks")  # a package: every kind
    assert all(cache.key(k, config) != before[k] for k in kinds)
    assert cache.key("demo", config) == config_key(config)  # a kind without code


def test_every_fingerprinted_module_has_source():
    modules = {m for kind in CODE.values() for m in kind}
    assert all(cache_module.source_files(m) for m in modules)
    assert len(cache_module.source_files("sclib.tasks")) > 1
    with pytest.raises(ValueError, match="no source for module 'sclib.nothing_here'"):
        cache_module.source_files("sclib.nothing_here")


def test_roundtrip_and_no_recompute(tmp_path):
    cache = Cache(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return {"w": torch.arange(3)}

    first = cache.get_or_compute("models", Cfg(), compute)
    second = cache.get_or_compute("models", Cfg(), compute)
    assert len(calls) == 1 and torch.equal(first["w"], second["w"])
    assert (cache.hits, cache.misses) == (1, 1)


@pytest.mark.parametrize("damage", ["truncate", "delete_meta", "wrong_config"])
def test_corrupted_or_partial_entry_is_recomputed(tmp_path, damage):
    cache = Cache(tmp_path)
    cache.save("runs", Cfg(), {"acc": 0.9})
    entry = next((tmp_path / "runs").iterdir())
    if damage == "truncate":
        blob = (entry / "payload.pt").read_bytes()
        (entry / "payload.pt").write_bytes(blob[: len(blob) // 2])
    elif damage == "delete_meta":
        (entry / "meta.json").unlink()
    else:
        text = (entry / "meta.json").read_text().replace("0.001", "0.5")
        (entry / "meta.json").write_text(text)
    assert cache.load("runs", Cfg()) is None
    assert not entry.exists()
    assert cache.get_or_compute("runs", Cfg(), lambda: {"acc": 0.8}) == {"acc": 0.8}


def test_interrupted_compute_leaves_nothing(tmp_path):
    cache = Cache(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        cache.get_or_compute("runs", Cfg(), lambda: (_ for _ in ()).throw(KeyboardInterrupt))
    assert cache.load("runs", Cfg()) is None


def test_no_root_keeps_nothing():
    cache = Cache(None)
    assert cache.get_or_compute("runs", Cfg(), lambda: 3) == 3
    assert cache.load("runs", Cfg()) is None


def _race(root: str, counter: str, start: float, out: str) -> None:
    """One worker of the race: wait for the common start, then ask for the same entry."""

    def compute():
        with open(counter, "a") as f:  # count the computations across processes
            f.write("x")
        time.sleep(1.0)  # long enough for the other worker to find the entry locked
        return {"w": torch.arange(4), "pid": os.getpid()}

    time.sleep(max(0.0, start - time.time()))
    payload = Cache(root).get_or_compute("base_models", Cfg(), compute)
    torch.save(payload, out)


def test_two_processes_racing_for_one_key_compute_it_once(tmp_path):
    ctx = multiprocessing.get_context("fork")
    counter, start = tmp_path / "count", time.time() + 0.5
    outs = [tmp_path / f"out{i}.pt" for i in range(2)]
    procs = [
        ctx.Process(target=_race, args=(str(tmp_path / "cache"), str(counter), start, str(o)))
        for o in outs
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert counter.read_text() == "x"  # computed exactly once
    a, b = (torch.load(o, weights_only=False) for o in outs)
    assert a["pid"] == b["pid"] and torch.equal(a["w"], b["w"])
    assert not list((tmp_path / "cache" / "base_models").glob("*.lock"))


def test_lock_of_a_dead_process_is_broken(tmp_path):
    dead = multiprocessing.get_context("fork").Process(target=lambda: None)
    dead.start()
    dead.join()
    path = tmp_path / "entry.lock"
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "time": 0}))
    assert lock_holder(path)["pid"] == dead.pid and is_stale(path)
    with EntryLock(path, poll_s=0.01) as lock:
        assert lock_holder(path)["pid"] == os.getpid()
    assert lock.waited_s < 5


def test_lock_of_another_host_is_broken_only_after_the_timeout(tmp_path):
    path = tmp_path / "entry.lock"
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "time": time.time()}))
    assert not is_stale(path, stale_after_s=60)  # a live holder elsewhere: wait
    old = time.time() - 120
    os.utime(path, (old, old))  # no heartbeat for two minutes
    assert is_stale(path, stale_after_s=60)
    with EntryLock(path, heartbeat_s=1, stale_after_s=60, poll_s=0.01):
        assert lock_holder(path)["host"] == socket.gethostname()


def test_holder_heartbeat_keeps_its_lock_fresh(tmp_path):
    path = tmp_path / "entry.lock"
    with EntryLock(path, heartbeat_s=0.05, stale_after_s=0.5):
        old = time.time() - 10
        os.utime(path, (old, old))
        time.sleep(0.3)
        assert not is_stale(path, stale_after_s=0.5)


def test_lock_is_released_when_compute_raises(tmp_path):
    cache = Cache(tmp_path)
    with pytest.raises(ZeroDivisionError):
        cache.get_or_compute("runs", Cfg(), lambda: 1 / 0)
    assert not list((tmp_path / "runs").glob("*.lock"))
    assert cache.get_or_compute("runs", Cfg(), lambda: 2) == 2


def test_has_sees_stored_entries_only(tmp_path):
    cache = Cache(tmp_path)
    assert not cache.has("runs", Cfg())
    cache.save("runs", Cfg(), 1)
    assert cache.has("runs", Cfg()) and not Cache(None).has("runs", Cfg())
