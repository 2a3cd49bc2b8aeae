"""Issue 3, "Nothing lost": memory stores against a real server process (``tests.live.LiveServer``: granian,
one worker, on a fresh SQLite file or a fresh PostgreSQL database when ``DATABASE_URL`` names one).

(a) 4 clients, each with its own HTTP connection, store concurrently through ``/mcp`` (``tools/call
    local_memory_store``), once with 4 subjects and once all with the same subject: every acknowledged id is
    in the database afterwards with its exact content and owner, and the counts match.
(b) The server is killed with SIGKILL (its worker, the process that serves the requests, and then granian's
    parent) in the middle of a burst of stores from 4 clients. After a restart on the same database every
    acknowledged store is there with its exact content, every memory in the database has its search
    postings (no half-written memory), and the search tool finds each acknowledged memory by its unique word.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live import LiveServer

CLIENTS = 4
PER_CLIENT = 60
# The database read, run inside the server's environment by ``manage.py shell``: every memory with its owner
# and content, and the ids of memories that have no posting.
DUMP = """
import json
from tools.models import Memory, MemoryTerm
rows = {m.pk: [m.subject, m.content] for m in Memory.objects.all()}
indexed = set(MemoryTerm.objects.values_list("memory_id", flat=True).distinct())
print(json.dumps({"memories": rows, "unindexed": sorted(set(rows) - indexed)}))
"""

pytestmark = pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc to find granian's worker")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    # DEBUG stays on (LiveServer's default) for mint_token's development issuer; no rate limit for the bursts.
    live = LiveServer(tmp_path, {"RATE_LIMIT_PER_MINUTE": "0"}).start()
    yield live
    live.stop()


def mint(server: LiveServer, sub: str) -> str:
    return server.manage(
        "mint_token", "--tenant", "default", "--scope", "memory.read memory.write", "--sub", sub
    ).strip()


def call(client: httpx.Client, server: LiveServer, token: str, request_id: int, name: str, arguments: dict) -> dict:
    body = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    reply = client.post(f"{server.url}/mcp", json=body, headers=headers)
    reply.raise_for_status()
    payload = reply.json()
    assert "error" not in payload and not payload["result"].get("isError"), payload
    return payload["result"]["structuredContent"]


def dump(server: LiveServer) -> tuple[dict[int, tuple[str, str]], list[int]]:
    found = json.loads(server.manage("shell", "-c", DUMP).strip().splitlines()[-1])
    return {int(pk): (row[0], row[1]) for pk, row in found["memories"].items()}, found["unindexed"]


def content_of(label: str, client: int, number: int) -> str:
    # ``uniq...`` is one search term (letters and digits only) that no other memory contains.
    return f'durability {label} client {client} store {number}: uniq{label}c{client}n{number} — é ü 🙂 "quoted"'


class Burst:
    """CLIENTS threads, each with its own ``httpx.Client`` (its own connection), storing until told to stop,
    ``limit`` stores each, or the server goes away. ``acked`` maps each acknowledged id to (subject, content)."""

    def __init__(self, server: LiveServer, tokens: list[tuple[str, str]], label: str, limit: int) -> None:
        self.server, self.tokens, self.label, self.limit = server, tokens, label, limit
        self.acked: dict[int, tuple[str, str]] = {}
        self.errors: list[BaseException] = []
        self.failed_transport = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(n,)) for n in range(CLIENTS)]

    def run(self, number: int) -> None:
        subject, token = self.tokens[number]
        with httpx.Client(timeout=30) as client:
            for i in range(self.limit):
                if self.stop.is_set():
                    return
                content = content_of(self.label, number, i)
                try:
                    stored = call(client, self.server, token, i, "local_memory_store", {"content": content})
                except httpx.TransportError:
                    with self.lock:
                        self.failed_transport += 1
                    return  # the server is gone: this store was never acknowledged
                except BaseException as error:
                    with self.lock:
                        self.errors.append(error)
                    return
                with self.lock:
                    assert stored["id"] not in self.acked, f"id {stored['id']} acknowledged twice"
                    self.acked[stored["id"]] = (subject, content)

    def start(self) -> Burst:
        for thread in self.threads:
            thread.start()
        return self

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=60)
            assert not thread.is_alive()


@pytest.mark.parametrize("subjects", ["own-subject", "same-subject"])
def test_four_concurrent_clients_lose_no_memory(server: LiveServer, subjects: str) -> None:
    names = [f"durable-{n}" for n in range(CLIENTS)] if subjects == "own-subject" else ["durable-shared"] * CLIENTS
    minted = {name: mint(server, name) for name in set(names)}
    burst = Burst(server, [(name, minted[name]) for name in names], subjects.split("-")[0], PER_CLIENT).start()
    burst.join()

    assert not burst.errors and not burst.failed_transport, burst.errors
    assert len(burst.acked) == CLIENTS * PER_CLIENT
    stored, unindexed = dump(server)
    assert stored == burst.acked  # every acknowledged id, exact owner and content, and nothing else
    assert unindexed == []


def test_sigkill_mid_burst_loses_no_acknowledged_store(server: LiveServer) -> None:
    tokens = [(f"killed-{n}", mint(server, f"killed-{n}")) for n in range(CLIENTS)]
    parent = server.proc
    assert parent is not None
    workers = server.worker_pids()
    assert workers, "granian started no worker process"

    burst = Burst(server, tokens, "kill", 100_000).start()
    deadline = time.monotonic() + 30
    while len(burst.acked) < 150 and time.monotonic() < deadline and not burst.errors:
        time.sleep(0.005)
    for pid in workers:  # the processes serving the requests, mid-burst
        os.kill(pid, signal.SIGKILL)
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=10)
    burst.join()
    assert not burst.errors, burst.errors
    assert len(burst.acked) >= 150
    assert burst.failed_transport >= 1  # the kill did land mid-burst

    server.restart()
    stored, unindexed = dump(server)
    for pk, (subject, content) in burst.acked.items():
        assert stored.get(pk) == (subject, content), f"acknowledged memory {pk} lost or changed"
    # Stores in flight at the kill may or may not have committed; none may be half-written.
    assert unindexed == []
    assert len(stored) - len(burst.acked) <= CLIENTS

    token_of = dict(tokens)
    with httpx.Client(timeout=30) as client:
        for pk, (subject, content) in sorted(burst.acked.items()):
            word = content.split(": ")[1].split()[0]
            found = call(client, server, token_of[subject], pk, "local_memory_search", {"query": word, "limit": 5})
            assert [result["id"] for result in found["results"]] == [pk], (word, found)
        after = call(client, server, tokens[0][1], 0, "local_memory_store", {"content": "stored after the restart"})
        assert after["id"] not in burst.acked
