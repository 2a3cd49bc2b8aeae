"""Django's PostgreSQL backend, with a health check that costs no round trip while the connection is quiet.

With ``CONN_HEALTH_CHECKS`` on, Django checks a persistent connection before its first use in each request
with ``SELECT 1``: a round trip per request (about 0.2 ms here, a tenth of a memory store through the MCP
endpoint). A connection the server has ended (a restart, ``pg_terminate_backend``, an idle timeout, a
pooler closing it) always has something to read: the server's FATAL message, or the end of the stream.
So the check first asks the operating system whether the idle socket is readable, without waiting: quiet,
the connection is taken as usable; readable, Django's ``SELECT 1`` decides, as before. Only an idle
connection (or one in a healthy transaction) is judged by its socket: in a failed transaction ``SELECT 1``
would fail, and Django relies on that answer (its test cases skip the constraint check then).

What this does not catch, ``SELECT 1`` would not have caught either: a server that vanished without closing
the connection (a host power loss) fails the request's first statement; the connection is then closed at
the end of the request and the next request reconnects (Django's ``close_if_unusable_or_obsolete``).
Settings: ``ENGINE`` is set to this module for PostgreSQL URLs (``cortex/settings.py``).
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus

QUIET = (TransactionStatus.IDLE, TransactionStatus.INTRANS)


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status not in QUIET:
            return super().is_usable()
        try:
            readable, _, _ = select.select([connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        if not readable:
            return True
        return super().is_usable()
