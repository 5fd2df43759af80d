"""Fixtures shared by this project's test folders."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def real_redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server for this session (this xdist worker), on a port it binds itself.

    Skips with a reason where none is installed, and fails instead under CI,
    which installs one (.ci/run).
    """
    if shutil.which("redis-server") is None:
        reason = "no redis-server on PATH: the real-Redis tests need one"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI installs it: .ci/run)", pytrace=False)
        pytest.skip(reason)
    from pytest_ctxprop.harness.redis_server import start_redis_server

    server = start_redis_server(Path(tmp_path_factory.mktemp("real-redis")))
    try:
        yield server.url
    finally:
        server.stop()
