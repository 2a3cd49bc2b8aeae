"""Stopping the server processes the tests start (granian, redis-server, node, celery): politely, then firmly."""

from __future__ import annotations

import subprocess


def stop(proc: subprocess.Popen | None, timeout: float = 10) -> None:
    """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; a process already gone is left alone."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
