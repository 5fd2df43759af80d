"""Every fake Redis the fixtures hand out gets the blocking-read fix the probe decided (H6),
the fake backend of ctxprop_redis_url (fakeredis over TCP) included.

The inner session re-creates fakeredis#453 (a blocking stream read replies at once) for
the whole session, before the probe runs; a control test shows the defect is live.
"""

from __future__ import annotations

import pytest
from harness_inner_runs import PLUGIN

DEFECT = """
import pytest
from fakeredis.commands_mixins.streams_mixin import StreamsCommandsMixin


@pytest.fixture(scope="session", autouse=True)
def returns_early():  # fakeredis#453, for the whole session: the probe sees it too
    original = StreamsCommandsMixin._xread

    def early(self, *args, **kwargs):
        reply = original(self, *args, **kwargs)
        return {} if reply is None else reply

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(StreamsCommandsMixin, "_xread", early)
        yield
"""

READS = """
import time

import fakeredis
import redis

BLOCK_MS = 300


def _waited(client):
    start = time.monotonic()
    client.xread({"s": "$"}, block=BLOCK_MS)
    return time.monotonic() - start


def test_a_control_plain_fakeredis_replies_at_once():
    client = fakeredis.FakeRedis()
    try:
        assert _waited(client) < BLOCK_MS / 2000, "the re-created defect is not live"
    finally:
        client.close()


def test_fake_server_fixture_blocks(ctxprop_fake_redis_server):
    client = fakeredis.FakeRedis(server=ctxprop_fake_redis_server)
    try:
        assert _waited(client) >= BLOCK_MS * 0.9 / 1000
    finally:
        client.close()


def test_fake_client_fixture_blocks(ctxprop_fake_redis):
    assert _waited(ctxprop_fake_redis) >= BLOCK_MS * 0.9 / 1000


def test_redis_url_fake_backend_blocks(ctxprop_redis_url):
    client = redis.Redis.from_url(ctxprop_redis_url)
    try:
        assert _waited(client) >= BLOCK_MS * 0.9 / 1000
    finally:
        client.close()
"""


def test_every_fake_fixture_gets_the_blocking_fix(hpytester):
    hpytester.makeconftest(DEFECT)
    hpytester.makepyfile(test_reads=READS)
    result = hpytester.runpytest_inprocess(
        *PLUGIN, "-p", "no:cacheprovider", "-p", "no:randomly", "--ctxprop-redis=fake"
    )
    result.assert_outcomes(passed=4)


def test_the_check_catches_a_fixture_without_the_fix(hpytester):
    """Broken variant: the same reads through fixtures that skip the patch must fail."""
    hpytester.makeconftest(
        DEFECT
        + """

@pytest.fixture
def ctxprop_fake_redis_server():
    return __import__("fakeredis").FakeServer()
"""
    )
    hpytester.makepyfile(test_reads=READS)
    result = hpytester.runpytest_inprocess(
        *PLUGIN,
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "--ctxprop-redis=fake",
        "-k",
        "control or fake_server_fixture",
    )
    result.assert_outcomes(passed=1, failed=1)


@pytest.fixture(autouse=True)
def _no_patch_left_behind():
    from pytest_ctxprop.harness import fakeredis_blocking as fb

    yield
    assert not fb.is_patched(), "an inner session left the fakeredis patch installed"
