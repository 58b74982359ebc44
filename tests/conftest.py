"""Test-wide set-up: seeds everywhere, no network, one thread per test process."""

from __future__ import annotations

import os
import random
import socket

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(2)

_LOCAL_PREFIXES = ("127.", "::1", "localhost")
_real_connect = socket.socket.connect


def _local_only_connect(self: socket.socket, address, *args, **kwargs):
    host = address[0] if isinstance(address, tuple) else str(address)
    if self.family == socket.AF_UNIX or str(host).startswith(_LOCAL_PREFIXES):
        return _real_connect(self, address, *args, **kwargs)
    raise OSError(f"network blocked in tests: tried to connect to {address!r}")


@pytest.fixture(autouse=True)
def _seed_and_block_network(monkeypatch: pytest.MonkeyPatch):
    """Every test starts from the same seeds and cannot reach beyond loopback."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    monkeypatch.setattr(socket.socket, "connect", _local_only_connect)
    yield
