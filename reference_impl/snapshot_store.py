"""Where snapshot records live between submit and run: a key-value store with TTLs.

:class:`SnapshotStore` is the whole contract (three methods).  Every record is
written with a TTL, and only if its key is free, so a task has one record and a
second submit under the same task id cannot replace the first task's snapshot.

* :class:`MemoryStore`: in this process only; its clock is injectable, so expiry
  is testable without sleeping.
* :class:`RedisStore`: any redis-py compatible client (``redis.Redis``,
  ``fakeredis.FakeRedis``): ``SET key value PX ttl NX``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

__all__ = ["MemoryStore", "RedisStore", "SnapshotStore"]


@runtime_checkable
class SnapshotStore(Protocol):
    """A key-value store in which every record expires."""

    def add(self, key: str, value: bytes, ttl_ms: int) -> bool:
        """Store ``value`` under ``key`` for ``ttl_ms`` milliseconds, only if ``key`` is free.

        Returns False (and changes nothing) when ``key`` already holds a live record.
        """
        ...

    def get(self, key: str) -> bytes | None:
        """The live record under ``key``, or None if it is missing or expired."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; no error if it is missing."""
        ...


def _checked_ttl(ttl_ms: int) -> int:
    if type(ttl_ms) is not int or ttl_ms <= 0:
        raise ValueError(f"every record needs a TTL: ttl_ms must be a positive int, got {ttl_ms!r}")
    return ttl_ms


class MemoryStore:
    """A store in this process's memory (thread-safe), for one-process runtimes and tests.

    ``clock`` returns seconds (default :func:`time.monotonic`); a test passes its
    own to expire records without sleeping.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._records: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()

    def add(self, key: str, value: bytes, ttl_ms: int) -> bool:
        expires = self._clock() + _checked_ttl(ttl_ms) / 1000.0
        if not isinstance(value, bytes):
            raise TypeError(f"a record is bytes, got {type(value).__name__}")
        with self._lock:
            if self._live(key) is not None:
                return False
            self._records[key] = (value, expires)
            return True

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._live(key)

    def delete(self, key: str) -> None:
        with self._lock:
            self._records.pop(key, None)

    def pttl(self, key: str) -> int:
        """Milliseconds left for ``key`` (Redis's PTTL): -2 if missing; never -1 here."""
        with self._lock:
            record = self._records.get(key)
            left = -2 if record is None else round((record[1] - self._clock()) * 1000)
            if record is not None and left <= 0:
                del self._records[key]
                return -2
            return left

    def _live(self, key: str) -> bytes | None:
        record = self._records.get(key)
        if record is None:
            return None
        if record[1] <= self._clock():
            del self._records[key]
            return None
        return record[0]

    def __len__(self) -> int:
        """Records held, expired ones included until they are next read."""
        return len(self._records)

    def __repr__(self) -> str:
        return f"<MemoryStore records={len(self._records)}>"


class _RedisClient(Protocol):
    def set(self, name: str, value: bytes, *, px: int, nx: bool) -> Any: ...
    def get(self, name: str) -> Any: ...
    def delete(self, *names: str) -> Any: ...


class RedisStore:
    """Records in Redis through a redis-py client (``decode_responses`` must be off).

    Works the same against a real redis-server and fakeredis.  The client is the
    caller's: this class never closes it (except the one :meth:`from_url` made,
    through :meth:`close`).
    """

    def __init__(self, client: _RedisClient) -> None:
        self._client = client
        self._owned = False

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisStore:
        """A store on a new ``redis.Redis.from_url(url, **options)`` client it owns."""
        import redis

        store = cls(redis.Redis.from_url(url, **options))
        store._owned = True
        return store

    def add(self, key: str, value: bytes, ttl_ms: int) -> bool:
        return bool(self._client.set(key, value, px=_checked_ttl(ttl_ms), nx=True))

    def get(self, key: str) -> bytes | None:
        value = self._client.get(key)
        if value is not None and not isinstance(value, bytes):
            raise TypeError(
                "RedisStore needs a client with decode_responses=False: records are bytes"
            )
        return value

    def delete(self, key: str) -> None:
        self._client.delete(key)

    def close(self) -> None:
        """Close the client if :meth:`from_url` created it; otherwise do nothing."""
        if self._owned:
            close = getattr(self._client, "close", None)
            if close is not None:
                close()

    def __repr__(self) -> str:
        return f"<RedisStore client={type(self._client).__name__}>"
