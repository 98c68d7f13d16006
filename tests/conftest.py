"""Fixtures shared by the suites that need the local stack (Kafka and Redis on 127.0.0.1).

`make test` starts the stack first (deploy/local/stack.sh start); a test that needs it and finds it
down fails with that instruction rather than skipping.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from obzvon import keys
from obzvon.recordings import RecordingStoreSettings
from obzvon.settings import CommonSettings
from obzvon_devstack.devstack import DevStack

KAFKA = ("127.0.0.1", 9092)
REDIS = ("127.0.0.1", 6379)
# Database 1 unless told otherwise: two suites run at once (e.g. by two developers) each need their own,
# since each empties its database when it starts.
TEST_REDIS_URL = os.environ.get("OBZVON_TEST_REDIS_URL", "redis://127.0.0.1:6379/1")


def _listening(addr: tuple[str, int]) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(addr) == 0


@pytest.fixture(scope="session")
def local_stack() -> None:
    for name, addr in (("Kafka", KAFKA), ("Redis", REDIS)):
        if not _listening(addr):
            pytest.fail(
                f"{name} is not listening on {addr[0]}:{addr[1]}: run `deploy/local/stack.sh start` (make test does it)"
            )


S3PROXY = ("127.0.0.1", int(os.environ.get("OBZVON_S3_PORT", "9000")))


@pytest.fixture
def s3_recordings() -> RecordingStoreSettings:
    """The local S3Proxy (stack.sh start) as the recordings store, in a bucket of this test's own."""
    if not _listening(S3PROXY):
        pytest.fail(
            f"S3Proxy is not listening on {S3PROXY[0]}:{S3PROXY[1]}: "
            "run `deploy/local/stack.sh start` (make test does it)"
        )
    return RecordingStoreSettings(
        recordings_s3_endpoint=f"http://{S3PROXY[0]}:{S3PROXY[1]}",
        recordings_s3_bucket=f"t-{uuid.uuid4().hex[:12]}",
        # S3Proxy's fixed local identity (deploy/local/stack.sh).
        recordings_s3_access_key="obzvon-local",
        recordings_s3_secret_key="obzvon-local-secret",  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def test_redis(local_stack: None) -> str:
    """Redis database 1 (or OBZVON_TEST_REDIS_URL), emptied once per session; never the demo's (database 0)."""
    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    return TEST_REDIS_URL


@pytest.fixture(autouse=True)
def no_campaign_left_running(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used the test database, no campaign of it stays running: every scheduler walks
    every running campaign of its database, so a later test's scheduler would dial an earlier test's
    contacts (and its dispatcher count their requests)."""
    yield
    if {"test_redis", "devstack"} & set(request.fixturenames):
        redis.Redis.from_url(TEST_REDIS_URL).delete(keys.running_campaigns())


@pytest.fixture
def bus_settings(local_stack: None) -> CommonSettings:
    """Settings with a topic prefix of the test's own, so tests never see each other's records."""
    return CommonSettings(topic_prefix=f"t-{uuid.uuid4().hex[:10]}.")


@pytest.fixture
def devstack(test_redis: str, tmp_path: Path) -> Iterator[DevStack]:
    """The real service processes, under a topic prefix of this test's own; stopped afterwards."""
    stack = DevStack(
        workdir=tmp_path / "stack",
        topic_prefix=f"t-{uuid.uuid4().hex[:10]}.",
        admin_api_key=f"admin-{uuid.uuid4().hex}",
        extra_env={"OBZVON_REDIS_URL": TEST_REDIS_URL},
    )
    try:
        yield stack
    finally:
        stack.stop()
