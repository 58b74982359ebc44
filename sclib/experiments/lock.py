"""A lock file per cache entry, so that workers sharing one cache never compute an entry twice.

Jobs on several machines write one cache folder on a shared filesystem. Before computing
an entry a worker creates ``<entry>.lock`` with ``O_CREAT | O_EXCL`` (atomic, also on NFS
v3 and later) and writes who holds it (host, pid, time). While it computes, a thread
touches the file every ``heartbeat_s`` seconds. Another worker waits; it breaks the lock
when the holder is gone: a process that no longer exists on the same host, or a file not
touched for ``stale_after_s`` seconds (its holder died on another host, or hangs).

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "entry.lock"
>>> with EntryLock(path):
...     path.exists()
True
>>> path.exists()
False
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from types import TracebackType

HEARTBEAT_S = 30.0
STALE_AFTER_S = 300.0  # ten missed heartbeats


def _holder() -> dict[str, object]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def lock_holder(path: Path) -> dict[str, object] | None:
    """Who holds the lock at ``path`` (host, pid, time), or None when it is free or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def is_stale(path: Path, stale_after_s: float = STALE_AFTER_S) -> bool:
    """Whether the lock at ``path`` is held by nobody alive (see the module docstring)."""
    try:
        age = time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        return False
    holder = lock_holder(path)
    if holder is not None and holder.get("host") == socket.gethostname():
        if not _pid_alive(int(holder.get("pid", -1))):
            return True
    return age > stale_after_s


class EntryLock:
    """An exclusive lock on one cache entry, held while it is computed.

    Args:
        path: the lock file, e.g. ``<root>/<kind>/<key>.lock``.
        heartbeat_s: how often the holder touches the file.
        stale_after_s: a file untouched this long is taken to have lost its holder.
        poll_s: how often a waiting worker looks again.
    """

    def __init__(
        self,
        path: Path | str,
        heartbeat_s: float = HEARTBEAT_S,
        stale_after_s: float = STALE_AFTER_S,
        poll_s: float = 0.2,
    ) -> None:
        if stale_after_s <= heartbeat_s:
            raise ValueError(
                f"stale_after_s={stale_after_s} must exceed heartbeat_s={heartbeat_s}, "
                "or a live holder's lock would be broken"
            )
        self.path = Path(path)
        self.heartbeat_s, self.stale_after_s, self.poll_s = heartbeat_s, stale_after_s, poll_s
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self.waited_s = 0.0

    def _try_create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            json.dump(_holder(), f)
        return True

    def _break_if_stale(self) -> None:
        seen = lock_holder(self.path)
        if is_stale(self.path, self.stale_after_s) and lock_holder(self.path) == seen:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    def acquire(self) -> None:
        """Wait until the lock is ours (breaking a stale one)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        while not self._try_create():
            self._break_if_stale()
            time.sleep(self.poll_s)
        self.waited_s = time.monotonic() - start
        self._stop.clear()
        self._beat = threading.Thread(target=self._heartbeat, daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                os.utime(self.path)
            except FileNotFoundError:
                return

    def release(self) -> None:
        """Give the lock up (remove the file)."""
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self) -> EntryLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
