"""Make the harness fixtures available whether or not the plugin module is loaded.

Only fixtures are imported (hooks would clash when ``-p pytest_ctxprop.harness.plugin``
is also given); the hooks are exercised through pytester runs.
"""

from pytest_ctxprop.harness.plugin import (
    ctxprop_leak_guard,
    ctxprop_server,
    fake_redis,
    fake_redis_server,
    fakeredis_blocking,
)

__all__ = [
    "ctxprop_leak_guard",
    "ctxprop_server",
    "fake_redis",
    "fake_redis_server",
    "fakeredis_blocking",
]
