from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from sclib.experiments.cache import Cache, config_key


@dataclass(frozen=True)
class Cfg:
    lr: float = 1e-3
    layers: tuple[int, ...] = (1, 2)


def test_key_depends_on_every_field():
    assert config_key(Cfg()) == config_key(Cfg())
    assert config_key(Cfg()) != config_key(Cfg(lr=1e-2))
    assert config_key(Cfg()) != config_key(Cfg(layers=(1, 3)))
    assert config_key({"a": 1.0}) != config_key({"a": 1.5})


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
