"""cortex.postgres: the health check needs no round trip on a quiet connection and still notices a connection
the server has ended. PostgreSQL only (the suite's PostgreSQL run); it uses a connection of its own."""

from __future__ import annotations

import select
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import connection

from cortex.postgres.base import DatabaseWrapper

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the PostgreSQL backend runs in the PostgreSQL run"),
]


@pytest.fixture
def wrapper() -> Iterator[DatabaseWrapper]:
    own = DatabaseWrapper({**connection.settings_dict, "CONN_HEALTH_CHECKS": True}, alias="health-check-test")
    own.ensure_connection()
    yield own
    own.close()


def _count_round_trips(own: DatabaseWrapper) -> list[Any]:
    """Every cursor opened on the driver connection (Django's SELECT 1 opens one)."""
    opened: list[Any] = []
    driver = own.connection
    real = driver.cursor

    def counting(*args: Any, **kwargs: Any) -> Any:
        opened.append(args)
        return real(*args, **kwargs)

    driver.cursor = counting  # type: ignore[method-assign]
    return opened


def _terminate(own: DatabaseWrapper) -> None:
    pid = own.connection.info.backend_pid
    params = {k: v for k, v in own.get_connection_params().items() if k in ("host", "port", "user", "password")}
    with psycopg.connect(**params, dbname=own.settings_dict["NAME"], autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone() == (True,)
    deadline = time.monotonic() + 5
    while not select.select([own.connection.fileno()], [], [], 0.05)[0]:
        assert time.monotonic() < deadline, "the server's goodbye never arrived"


def test_a_quiet_connection_is_usable_without_a_round_trip(wrapper: DatabaseWrapper) -> None:
    opened = _count_round_trips(wrapper)
    assert wrapper.is_usable() is True
    assert opened == []


def test_a_connection_the_server_ended_is_not_usable(wrapper: DatabaseWrapper) -> None:
    _terminate(wrapper)
    opened = _count_round_trips(wrapper)
    assert wrapper.is_usable() is False
    assert len(opened) == 1  # the readable socket sent the check on to Django's SELECT 1, which failed


def test_the_next_request_reconnects_after_the_server_ended_the_connection(wrapper: DatabaseWrapper) -> None:
    before = wrapper.connection.info.backend_pid
    _terminate(wrapper)
    wrapper.close_if_unusable_or_obsolete()  # what request_started does
    with wrapper.cursor() as cursor:  # a request's first statement: the health check closes, then reconnects
        cursor.execute("SELECT pg_backend_pid()")
        after = cursor.fetchone()[0]
    assert after != before


def test_a_connection_in_a_failed_transaction_is_not_usable(wrapper: DatabaseWrapper) -> None:
    driver = wrapper.connection
    driver.execute("BEGIN")
    with pytest.raises(psycopg.errors.DivisionByZero):
        driver.execute("SELECT 1 / 0")
    assert wrapper.is_usable() is False  # as Django's SELECT 1 answers: the transaction is aborted
    driver.execute("ROLLBACK")
    assert wrapper.is_usable() is True
