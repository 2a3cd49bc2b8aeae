"""A real ``redis-server`` for the tests, on a free loopback port, without persistence; stopped at the end.

``.ci/run`` installs redis-server; on a machine without it the tests that need Redis are skipped (the
``redis`` fixture says so). Use the session fixture ``redis_url`` (one server per test session) and
``flush_redis`` to start a test from an empty database.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_client

from tests import processes
from tests.live import free_port


class RedisServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = Path(tempfile.mkdtemp(prefix="cortex-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
        command = [
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.workdir), "--protected-mode", "yes", "--loglevel", "warning",
        ]  # fmt: skip
        log = (self.workdir / "redis.log").open("wb")
        self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(self.workdir / 'redis.log').read_text()}")
            try:
                if redis_client.Redis.from_url(self.url, socket_timeout=0.5).ping():
                    return self
            except redis_client.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not answer in 10 s")

    def client(self) -> redis_client.Redis:
        return redis_client.Redis.from_url(self.url)

    def stop(self) -> None:
        processes.stop(self.proc)
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of an empty Redis database (flushed before the test)."""
    redis_server.client().flushall()
    return redis_server.url
