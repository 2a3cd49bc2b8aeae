"""Full-text index of memories, per database (see ``tools.memories`` for how searches use it).

SQLite: a contentless FTS5 table ``tools_memory_fts`` (rowid = memory id) and three triggers on
``tools_memory`` that keep it in step; existing rows are indexed here. A contentless table deletes a row
by replaying its indexed values, which the triggers recompute from ``OLD``: never write the FTS table by
hand. CAUTION for later migrations: when Django rebuilds ``tools_memory`` on SQLite (most ``AlterField``
and ``RemoveField`` operations copy it into a new table) the triggers are dropped with the old table. Such
a migration must run ``install_sqlite`` below again (it is idempotent and reindexes every row);
``tests/test_tools_memory.py`` fails if the triggers are missing after all migrations.

PostgreSQL: the text search configuration ``cortex_memory`` (``simple``, with ``unaccent`` first when the
extension can be installed), the generated column ``tools_memory.search`` (filled for existing rows by
the ALTER itself), a GIN index on it and a btree on (tenant, subject, id) for newest-first scans.
"""

from __future__ import annotations

from django.db import DatabaseError, migrations, transaction

SQLITE_OWNER = "'o' || {row}.tenant_id || 'x' || hex({row}.subject)"
SQLITE_TAGS = "(SELECT group_concat(value, ' ') FROM json_each({row}.tags))"
SQLITE_VALUES = "{row}.id, " + SQLITE_OWNER + ", {row}.content, " + SQLITE_TAGS


def _values(row: str) -> str:
    return SQLITE_VALUES.format(row=row)


SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS tools_memory_fts_insert",
    "DROP TRIGGER IF EXISTS tools_memory_fts_delete",
    "DROP TRIGGER IF EXISTS tools_memory_fts_update",
    "DROP TABLE IF EXISTS tools_memory_fts",
]

SQLITE_CREATE = [
    "CREATE VIRTUAL TABLE tools_memory_fts USING fts5("
    "owner, content, tags, content='', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER tools_memory_fts_insert AFTER INSERT ON tools_memory BEGIN "
    f"INSERT INTO tools_memory_fts(rowid, owner, content, tags) VALUES ({_values('new')}); END",
    "CREATE TRIGGER tools_memory_fts_delete AFTER DELETE ON tools_memory BEGIN "
    "INSERT INTO tools_memory_fts(tools_memory_fts, rowid, owner, content, tags) "
    f"VALUES ('delete', {_values('old')}); END",
    "CREATE TRIGGER tools_memory_fts_update AFTER UPDATE OF id, tenant_id, subject, content, tags ON tools_memory "
    "BEGIN "
    "INSERT INTO tools_memory_fts(tools_memory_fts, rowid, owner, content, tags) "
    f"VALUES ('delete', {_values('old')}); "
    f"INSERT INTO tools_memory_fts(rowid, owner, content, tags) VALUES ({_values('new')}); END",
    f"INSERT INTO tools_memory_fts(rowid, owner, content, tags) SELECT {_values('tools_memory')} FROM tools_memory",
    "INSERT INTO tools_memory_fts(tools_memory_fts) VALUES ('optimize')",
]

PG_SEARCH = (
    "array_to_tsvector(ARRAY['O' || tenant_id::text || 'x' || md5(subject)]) "
    "|| setweight(to_tsvector('cortex_memory'::regconfig, content), 'B') "
    "|| setweight(to_tsvector('cortex_memory'::regconfig, tags), 'A')"
)

PG_CREATE = [
    f"ALTER TABLE tools_memory ADD COLUMN search tsvector GENERATED ALWAYS AS ({PG_SEARCH}) STORED",
    "CREATE INDEX tools_memory_search_gin ON tools_memory USING gin (search)",
    "CREATE INDEX tools_memory_owner_id ON tools_memory (tenant_id, subject, id)",
]

PG_DROP = [
    "DROP INDEX IF EXISTS tools_memory_owner_id",
    "DROP INDEX IF EXISTS tools_memory_search_gin",
    "ALTER TABLE tools_memory DROP COLUMN IF EXISTS search",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS cortex_memory",
]


def install_sqlite(schema_editor) -> None:  # type: ignore[no-untyped-def]
    """(Re)create the FTS5 table and its triggers and index every memory; safe to run again."""
    for statement in SQLITE_DROP + SQLITE_CREATE:
        schema_editor.execute(statement)


def _pg_unaccent(schema_editor) -> bool:  # type: ignore[no-untyped-def]
    """Install ``unaccent`` if the server has it and we may (a trusted extension since PostgreSQL 13)."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent'")
        if cursor.fetchone() is None:
            return False
        try:
            with transaction.atomic(using=schema_editor.connection.alias):  # a savepoint: a refusal is not fatal
                cursor.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
        except DatabaseError:  # no privilege: plain simple then
            return False
    return True


def forwards(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        install_sqlite(schema_editor)
    elif vendor == "postgresql":
        schema_editor.execute("CREATE TEXT SEARCH CONFIGURATION cortex_memory (COPY = simple)")
        if _pg_unaccent(schema_editor):
            schema_editor.execute(
                "ALTER TEXT SEARCH CONFIGURATION cortex_memory ALTER MAPPING FOR "
                "asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH unaccent, simple"
            )
        for statement in PG_CREATE:
            schema_editor.execute(statement)
    else:
        raise NotImplementedError(f"memory full-text search supports SQLite and PostgreSQL, not {vendor}")


def backwards(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    vendor = schema_editor.connection.vendor
    for statement in SQLITE_DROP if vendor == "sqlite" else PG_DROP if vendor == "postgresql" else []:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("tools", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
