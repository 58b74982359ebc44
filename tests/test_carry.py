"""Carrying cache entries across a code change that computes nothing differently
(``sclib.experiments.carry``)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess

import pytest
import torch

from sclib.config_keys import key_neutral
from sclib.experiments import carry
from sclib.experiments.cache import CODE, Cache, code_fingerprint, config_key
from sclib.experiments.profile_settings import PROFILES
from sclib.experiments.profiles import Cell, Profile
from sclib.paths import ROOT
from sclib.train import BaseTrainConfig, MaskTrainConfig


def test_a_carried_entry_loads_under_the_new_code_and_says_where_it_came_from(tmp_path):
    cache = Cache(tmp_path)
    config = {"cell": Cell("inside_contact", "resnet", "inside", "scratch"), "n": 1}
    cache.save("runs", config, {"score": torch.tensor([0.25])})
    other = {"cell": Cell("inside_contact", "resnet", "contact", "scratch"), "n": 1}
    old = {kind: code_fingerprint(kind) for kind in CODE}
    new = {kind: f"new-{kind}" for kind in CODE}
    note = {"from_revision": "abc1234"}

    assert carry.carry(tmp_path, old, new, note, dry_run=True)["runs"]["carried"] == 1
    assert len(list((tmp_path / "runs").iterdir())) == 1  # a dry run writes nothing
    report = carry.carry(tmp_path, old, new, note)
    assert report["runs"] == {"carried": 1, "present": 0, "other": 0}
    target = tmp_path / "runs" / config_key({"config": json.loads(
        (tmp_path / "runs" / cache.key("runs", config) / "meta.json").read_text())["config"],
        "code": new["runs"]})  # fmt: skip
    meta = json.loads((target / "meta.json").read_text())
    assert meta["code"] == new["runs"] and meta["carried"] == note

    # under the new code the entry is found and read, its checksum intact
    import sclib.experiments.cache as cache_module

    original = cache_module.code_fingerprint
    cache_module.code_fingerprint = lambda kind: new.get(kind, original(kind))
    try:
        assert torch.equal(cache.load("runs", config)["score"], torch.tensor([0.25]))
        assert cache.load("runs", other) is None
    finally:
        cache_module.code_fingerprint = original
    # carrying again finds the new key taken; entries of other code are left alone
    assert carry.carry(tmp_path, old, new, note)["runs"] == {"carried": 0, "present": 1, "other": 1}


def test_key_neutral_fields_leave_every_profiles_keys_as_they_were():
    """A new option at its default must not change a key (or every cached run is lost)."""

    def asdict_plain(obj):  # the key's plain form before key-neutral fields existed
        if dataclasses.is_dataclass(obj):
            return {"__type__": type(obj).__name__, **asdict_plain(dataclasses.asdict(obj))}
        if isinstance(obj, dict):
            return {str(k): asdict_plain(v) for k, v in sorted(obj.items())}
        if isinstance(obj, (list, tuple)):
            return [asdict_plain(v) for v in obj]
        return obj

    @dataclasses.dataclass(frozen=True)
    class Option:
        a: int = 1
        new: bool = key_neutral(False)

    assert config_key(Option()) == config_key({"__type__": "Option", "a": 1})
    assert config_key(Option(new=True)) != config_key(Option())
    # every key-neutral field of the configs a profile holds, with its default
    neutral = {
        f.name: f.default
        for cls in (Profile, BaseTrainConfig, MaskTrainConfig)
        for f in dataclasses.fields(cls)
        if f.metadata.get("cache_key")
    }

    def strip(plain):  # the plain form without key-neutral fields at their defaults
        if isinstance(plain, dict):
            return {k: strip(v) for k, v in plain.items() if not (k in neutral and v == neutral[k])}
        return [strip(v) for v in plain] if isinstance(plain, list) else plain

    assert "stall_min_drop" in neutral
    for profile in PROFILES.values():
        at_default = dataclasses.replace(
            profile,
            stall_min_drop=None,
            mask=dataclasses.replace(profile.mask, stall_min_drop=None),
        )
        assert config_key(at_default) == config_key(strip(asdict_plain(at_default)))
        # and a profile that sets one has a key of its own
        assert config_key(dataclasses.replace(at_default, stall_min_drop=0.5)) != config_key(
            at_default
        )


def test_differences_names_what_differs_and_ignores_clocks():
    a = {"x": torch.ones(3), "acc": 0.5, "time_s": 1.0, "history": {"ce": [1.0, 0.5]}}
    b = {"x": torch.ones(3), "acc": 0.5, "time_s": 9.0, "history": {"ce": [1.0, 0.5]}}
    assert carry.differences(a, b) == []
    b["history"]["ce"][1] = 0.25
    b["x"] = torch.tensor([1.0, 1.0, 1.0 + 1e-7])
    assert carry.differences(a, b) == ["history.ce.1: 0.5 and 0.25", "x: tensors differ"]
    assert carry.differences({"v": float("nan")}, {"v": float("nan")}) == []


def _clean(module_path: str) -> bool:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "diff", "--quiet", "HEAD", "--", module_path, f"{module_path}.py"],
        check=False,
    )
    return done.returncode == 0


def test_fingerprints_at_a_revision_are_the_ones_its_checkout_computes():
    """Read from git, the code of HEAD hashes as the checkout's does (where it is clean)."""
    try:
        at_head = carry.revision_fingerprints("HEAD")
    except subprocess.CalledProcessError:
        pytest.skip("not a git checkout")
    paths = {m.replace(".", "/") for mods in CODE.values() for m in mods}
    if not all(_clean(p) for p in paths):
        pytest.skip("the fingerprinted code has uncommitted changes")
    assert at_head == {kind: code_fingerprint(kind) for kind in CODE}
    with pytest.raises(ValueError, match="no source"):
        carry._module_files("sclib.no_such_module", "HEAD")


def test_a_kind_whose_code_is_newer_than_the_revision_is_not_carried(tmp_path, monkeypatch):
    """A kind made by a module the old revision lacks has no old fingerprint (nothing of it
    was made there); the other kinds are fingerprinted and carried as before."""
    try:
        carry.revision_fingerprints("HEAD")
    except subprocess.CalledProcessError:
        pytest.skip("not a git checkout")
    monkeypatch.setitem(CODE, "newer", CODE["runs"])
    Cache(tmp_path).save("newer", {"n": 1}, {"x": 1})  # made by some code
    monkeypatch.setitem(CODE, "newer", (*CODE["runs"], "sclib.no_such_module"))
    at_head = carry.revision_fingerprints("HEAD")
    assert "newer" not in at_head and "runs" in at_head
    new = {kind: f"new-{kind}" for kind in CODE}
    report = carry.carry(tmp_path, at_head, new, {"from_revision": "HEAD"})
    assert report["newer"] == {"carried": 0, "present": 0, "other": 1}


def test_a_carried_run_names_its_carried_base_model_by_the_new_key(tmp_path):
    """Runs cluster by ``base_model_id`` (the base model's entry name): a carried run must
    name its base model as the runs computed after the change do."""
    cache = Cache(tmp_path)
    base_config = {"cell": "a base model"}
    old_id = cache.key("base_models", base_config)
    cache.save("base_models", base_config, {"state_dict": {"w": torch.ones(2)}})
    cache.save("runs", {"cell": "a run"}, {"base_model_id": old_id, "ablation_score": -0.25})
    old = {kind: code_fingerprint(kind) for kind in CODE}
    new = {kind: f"new-{kind}" for kind in CODE}
    carry.carry(tmp_path, old, new, {"from_revision": "abc1234"})
    new_id = config_key({"config": base_config, "code": new["base_models"]})
    run_entry = tmp_path / "runs" / config_key({"config": {"cell": "a run"}, "code": new["runs"]})
    row = torch.load(run_entry / "payload.pt", weights_only=False)
    assert row == {"base_model_id": new_id, "ablation_score": -0.25}
    meta = json.loads((run_entry / "meta.json").read_text())  # its checksum is the new payload's
    assert meta["sha256"] == hashlib.sha256((run_entry / "payload.pt").read_bytes()).hexdigest()
