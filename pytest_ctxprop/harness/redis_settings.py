"""Which Redis the fixtures use, read once per session from the CLI, the environment and ini.

Each setting has one name everywhere: ``--ctxprop-redis-url`` / ini
``ctxprop_redis_url`` / environment ``CTXPROP_REDIS_URL``, and
``--ctxprop-redis`` / ini ``ctxprop_redis``.  The command line wins, then
the environment, then ini, as a CI job's environment is meant to override a
project's file.  A URL that cannot work is a usage error before any test runs.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

__all__ = ["BACKENDS", "ENV_URL", "RedisSettings", "read_settings", "redact_url"]

BACKENDS = ("auto", "real", "fake")
ENV_URL = "CTXPROP_REDIS_URL"
_SCHEMES = ("redis", "rediss", "unix")


def redact_url(url: str) -> str:
    """``url`` with any password replaced, fit for messages and reports."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo = f"{parts.username or ''}:***"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{userinfo}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class RedisSettings:
    """The session's Redis choice, as configured (``auto`` is resolved on use)."""

    url: str | None  # an external server, or None
    url_source: str  # where the URL came from, for messages
    choice: str = "auto"  # "auto", "real" or "fake": the backend without a URL

    @property
    def backend(self) -> str:
        """``"external"``, ``"real"`` or ``"fake"``: what this session uses.

        Looked up when asked (PATH may differ by then, and nothing runs at configure).
        """
        if self.url is not None:
            return "external"
        if self.choice == "real" or (self.choice == "auto" and shutil.which("redis-server")):
            return "real"
        return "fake"

    def describe(self) -> str:
        """One line for the pytest header: which backend, and what each test gets."""
        if self.url is not None:
            return (
                f"external {redact_url(self.url)} from {self.url_source} "
                "(database + xdist worker index, flushed before each test)"
            )
        if self.backend == "real":
            return f"private redis-server per worker ({shutil.which('redis-server')})"
        return "fakeredis over TCP, a fresh server per test (blocking fixes as probed)"


def check_url(url: str, source: str) -> str:
    """``url`` if redis-py can use it; a UsageError naming the setting otherwise."""
    shown = redact_url(url)

    def refuse(why: str) -> pytest.UsageError:
        return pytest.UsageError(f"{source} {shown!r}: {why}")

    if "://" not in url:
        raise refuse(f"no scheme; write it as redis://{url.strip('/')}")
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise refuse(f"scheme {parts.scheme!r} is not one of {', '.join(_SCHEMES)}")
    if parts.scheme == "unix":
        return url
    try:
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError:
        raise refuse("the port is not a number") from None
    if not parts.hostname:
        raise refuse("no host")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise refuse(f"the database {db!r} is not a non-negative number")
    return url


def _first(*candidates: tuple[Any, str]) -> tuple[str | None, str]:
    for value, source in candidates:
        if value:
            return str(value), source
    return None, ""


def read_settings(config: pytest.Config) -> RedisSettings:
    """Resolve and validate the session's Redis settings (UsageError on a bad value)."""
    url, source = _first(
        (config.getoption("ctxprop_redis_url", default=None), "--ctxprop-redis-url"),
        (os.environ.get(ENV_URL), ENV_URL),
        (config.getini("ctxprop_redis_url"), "ini ctxprop_redis_url"),
    )
    choice, choice_source = _first(
        (config.getoption("ctxprop_redis", default=None), "--ctxprop-redis"),
        (config.getini("ctxprop_redis"), "ini ctxprop_redis"),
    )
    choice = choice or "auto"
    if choice not in BACKENDS:
        raise pytest.UsageError(
            f"{choice_source} must be one of {', '.join(BACKENDS)}, got {choice!r}"
        )
    if url is not None:
        return RedisSettings(check_url(url, source), source, choice)
    return RedisSettings(None, "", choice)
