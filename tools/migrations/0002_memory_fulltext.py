"""The memory search index: the ``tools_memoryterm`` postings table (``tools.models.MemoryTerm``; how it is
written and read: ``tools.memories``), filled here for the memories that already exist.

This migration once installed an FTS5 table with triggers (SQLite) and a generated tsvector column with a
text search configuration (PostgreSQL); it still drops those if a database has them, so the file name
(which later migrations depend on) stays. The postings are written by Python (one tokenizer for index and
query time), not by triggers, so a later migration that rebuilds ``tools_memory`` loses nothing.
"""

from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models

SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS tools_memory_fts_insert",
    "DROP TRIGGER IF EXISTS tools_memory_fts_delete",
    "DROP TRIGGER IF EXISTS tools_memory_fts_update",
    "DROP TABLE IF EXISTS tools_memory_fts",
]

PG_DROP = [
    "DROP INDEX IF EXISTS tools_memory_owner_id",
    "DROP INDEX IF EXISTS tools_memory_search_gin",
    "ALTER TABLE tools_memory DROP COLUMN IF EXISTS search",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS cortex_memory",
]


def drop_fulltext(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    """Remove the earlier full-text design where a database has it (a no-op on a fresh database)."""
    vendor = schema_editor.connection.vendor
    for statement in SQLITE_DROP if vendor == "sqlite" else PG_DROP if vendor == "postgresql" else []:
        schema_editor.execute(statement)


def index_existing(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    """Postings for every memory already stored (the code of ``tools.memories`` at the time it runs)."""
    from tools.memories import index_memories

    memory = apps.get_model("tools", "Memory")
    alias = schema_editor.connection.alias
    index_memories(memory.objects.using(alias).order_by("pk").iterator(chunk_size=2000), using=alias)


class Migration(migrations.Migration):
    dependencies = [("tools", "0001_initial")]

    operations = [
        migrations.RunPython(drop_fulltext, migrations.RunPython.noop),
        migrations.CreateModel(
            name="MemoryTerm",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("owner", models.CharField(help_text="tools.memories.owner_key(tenant id, subject).", max_length=16)),
                ("term", models.CharField(max_length=64)),
                ("impact", models.FloatField()),
                (
                    "memory",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="terms", to="tools.memory"
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["owner", "term", "-impact", "-memory"], name="memoryterm_top_idx")],
            },
        ),
        migrations.RunPython(index_existing, migrations.RunPython.noop),
    ]
