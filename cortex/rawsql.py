"""The statements that run on every tool call, sent through the database driver's own cursor.

Django's ``CursorWrapper`` costs about 35-40 µs per statement on top of the driver (measured on SQLite: a
fresh wrapped cursor per use, the execute-wrapper chain, and the ``%s`` -> ``?`` rewrite of the whole SQL
text on every execute). A memory search through the MCP endpoint runs two statements (the search and the
audit row), so that was about a tenth of the request. The few hot statements (``tools.audit``, memory
search and store in ``tools.memories``) come here instead; everything else uses the ORM or
``connection.cursor()``.

What is kept from Django: the connection itself (so the same transaction and ``atomic`` blocks apply), the
health check and reconnect of ``ensure_connection``, the broken-transaction guard, and the translation of
driver errors into ``django.db`` errors. While queries are being logged (DEBUG, or a test capturing them)
the statements go through Django's cursor instead, so ``connection.queries`` still shows every statement;
``execute_wrapper`` hooks do not see them otherwise.

SQL is written with ``%s`` placeholders (``%%`` for a literal percent), as for ``cursor.execute``; the
SQLite form is computed once per statement text with Django's own rule.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.sqlite3.base import FORMAT_QMARK_REGEX


@functools.lru_cache(maxsize=512)
def _qmark(sql: str) -> str:
    """``%s`` -> ``?`` and ``%%`` -> ``%``, exactly as Django's ``SQLiteCursorWrapper.convert_query``."""
    return FORMAT_QMARK_REGEX.sub("?", sql).replace("%%", "%")


def _run(sql: str, params: Sequence[Any], using: str) -> Any:
    connection = connections[using]
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    if connection.queries_logged:
        cursor = connection.cursor()
        cursor.execute(sql, params)
        return cursor
    connection.validate_no_broken_transaction()
    if connection.vendor == "sqlite":
        sql = _qmark(sql)
    with connection.wrap_database_errors:
        cursor = connection.connection.cursor()
        cursor.execute(sql, params)
    return cursor


def execute(sql: str, params: Sequence[Any], using: str = DEFAULT_DB_ALIAS) -> int:
    """Run a statement that returns no rows; returns the driver's row count."""
    cursor = _run(sql, params, using)
    try:
        return cursor.rowcount
    finally:
        cursor.close()


def fetchall(sql: str, params: Sequence[Any], using: str = DEFAULT_DB_ALIAS) -> list[tuple[Any, ...]]:
    """Run a query and return all its rows."""
    cursor = _run(sql, params, using)
    connection = connections[using]
    try:
        with connection.wrap_database_errors:
            return list(cursor.fetchall())
    finally:
        cursor.close()


def fetchone(sql: str, params: Sequence[Any], using: str = DEFAULT_DB_ALIAS) -> tuple[Any, ...] | None:
    """Run a query and return its first row (``None`` if there is none)."""
    cursor = _run(sql, params, using)
    connection = connections[using]
    try:
        with connection.wrap_database_errors:
            return cursor.fetchone()
    finally:
        cursor.close()
