"""A real Celery worker process (not eager mode) on a real Redis runs the refresh and sync tasks against the
Auth0 stand-in; a web server sharing that Redis verifies with the keys the worker fetched."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from celery import Celery

from tests import auth0_standin, processes
from tests import redis_server as redis_helpers
from tests.auth0_standin import Auth0StandIn
from tests.live import BIN, ROOT, LiveServer

pytestmark = pytest.mark.e2e
standin = auth0_standin.standin  # fixture
redis_server, redis_url = redis_helpers.redis_server, redis_helpers.redis_url  # fixtures

AUDIENCE = "https://mcp.example/mcp"


@pytest.fixture
def stack(tmp_path: Path, standin: Auth0StandIn, redis_url: str) -> Iterator[tuple[LiveServer, Celery]]:
    """A web server and a worker on one Redis and one database, configured for the stand-in."""
    standin.publish("k1")
    standin.add_client("m2m", "s3cret")
    web = LiveServer(
        tmp_path,
        {
            "REDIS_URL": redis_url,
            "AUTH_ISSUER": standin.issuer,
            "AUTH0_AUDIENCE": AUDIENCE,
            "AUTH0_MGMT_CLIENT_ID": "m2m",
            "AUTH0_MGMT_CLIENT_SECRET": "s3cret",
            "RATE_LIMIT_PER_MINUTE": "0",
        },
    )
    web.start()
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [
            str(BIN / "celery"),
            "-A",
            "cortex",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            "test@localhost",
        ],
        cwd=ROOT,
        env=web.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    probe = Celery("probe", broker=redis_url, backend=redis_url)
    try:
        deadline = time.monotonic() + 60
        while not probe.control.ping(timeout=0.5):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{(tmp_path / 'worker.log').read_text()}")
        yield web, probe
    finally:
        processes.stop(worker, timeout=20)
        web.stop()
        probe.close()


def ping(server: LiveServer, token: str) -> int:
    return httpx.post(
        f"{server.url}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        timeout=10,
    ).status_code


def test_worker_refreshes_keys_the_web_server_uses(stack: tuple[LiveServer, Celery], standin: Auth0StandIn) -> None:
    web, probe = stack
    status = probe.send_task("authz.tasks.refresh_jwks", args=["default"]).get(timeout=60)
    assert status["ok"] is True and status["kids"] == ["k1"]
    assert standin.counts["jwks"] == 1
    assert ping(web, standin.mint("k1", AUDIENCE)) == 200
    assert standin.counts["jwks"] == 1  # the web server verified with the worker's copy

    standin.publish("k1", "k2")  # rotation: the refresher sees the next key before any token uses it
    status = probe.send_task("authz.tasks.refresh_jwks", args=["default"]).get(timeout=60)
    assert status["kids"] == ["k1", "k2"] and standin.counts["jwks"] == 2
    assert ping(web, standin.mint("k2", AUDIENCE)) == 200
    assert standin.counts["jwks"] == 2

    standin.jwks_mode = "garbage"
    status = probe.send_task("authz.tasks.refresh_jwks", args=["default"]).get(timeout=60)
    assert status["ok"] is False and status["kids"] == ["k1", "k2"]
    assert ping(web, standin.mint("k2", AUDIENCE)) == 200


def test_worker_syncs_scopes_through_two_429s(stack: tuple[LiveServer, Celery], standin: Auth0StandIn) -> None:
    web, probe = stack
    standin.add_resource_server(AUDIENCE, [{"value": "billing.admin", "description": "Someone else's"}])
    standin.throttle(2, retry_after=1)
    result = probe.send_task("authz.tasks.sync_scopes", args=["default"]).get(timeout=120)
    assert result["status"] == "ok", result
    assert result["added"] == ["docs.write", "memory.delete", "memory.read", "memory.write", "search.read"]
    assert result["kept"] == ["billing.admin"]
    (server,) = standin.resource_servers.values()
    values = [s["value"] for s in server["scopes"]]
    assert values[0] == "billing.admin" and len(values) == 6
    assert standin.counts["429"] == 2 and standin.counts["PATCH rs"] == 1
    recorded = json.loads(
        web.manage(
            "shell",
            "-c",
            "import json; from authz.models import ScopeSyncRun; from django_celery_beat.models import PeriodicTask; "
            "run = ScopeSyncRun.objects.get(); print(json.dumps({'status': run.status, 'added': run.added, "
            "'finished': run.finished is not None, "
            "'tasks': sorted(PeriodicTask.objects.values_list('name', 'task'))}))",
        )
        .strip()
        .splitlines()[-1]
    )
    assert recorded["status"] == "ok" and len(recorded["added"]) == 5 and recorded["finished"]
    assert recorded["tasks"] == [
        ["Codebase re-index: default", "tools.tasks.reindex_codebases"],
        ["JWKS refresh: default", "authz.tasks.refresh_jwks"],
        ["Scope sync: default", "authz.tasks.sync_scopes"],
    ]


def test_worker_reindexes_codebases(stack: tuple[LiveServer, Celery], tmp_path: Path) -> None:
    web, probe = stack
    root = tmp_path / "repo"
    root.mkdir()
    (root / "hello.py").write_text("def greet():\n    return 'hello from the worker'\n")
    web.manage("add_codebase", "repo", str(root), "--no-index")
    (report,) = probe.send_task("tools.tasks.reindex_codebases", args=["default"]).get(timeout=120)
    assert report["codebase"] == "repo" and report["files"] == 1 and report["added"] == 1, report
