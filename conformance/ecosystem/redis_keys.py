"""Deleting what a row's queue left in Redis: a real Redis keeps it after the worker stops."""

from __future__ import annotations

__all__ = ["delete_matching"]

#: keys deleted per command (and scanned per round trip)
BATCH = 500


def delete_matching(url: str, pattern: str) -> None:
    """Delete every key matching the glob ``pattern`` (the row's worker has stopped)."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5.0)
    try:
        keys = list(client.scan_iter(match=pattern, count=BATCH))
        for start in range(0, len(keys), BATCH):
            client.delete(*keys[start : start + BATCH])
    finally:
        client.close()
