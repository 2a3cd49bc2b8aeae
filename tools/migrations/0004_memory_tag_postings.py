"""Tag postings for the memory search index, and a (memory, term, impact) index instead of the memory index.

A tag filter used to test every walked memory's tags as JSON (on SQLite through a Python REGEXP function):
40-50 ms for a common word with a rare tag at 100,000 memories. Each tag is now also a posting (``#`` and the
folded tag, ``tools.memories.tag_term``), so a filter is an index probe, and a rare tag can drive the search.
The (memory, term, impact) index serves those probes and the cascade deletes the plain memory index served.
Existing memories are re-indexed (``tools.memories`` at the time this runs).
"""

from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models


def reindex(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    from tools.memories import index_memories

    memory = apps.get_model("tools", "Memory")
    alias = schema_editor.connection.alias
    index_memories(memory.objects.using(alias).order_by("pk").iterator(chunk_size=2000), using=alias)


class Migration(migrations.Migration):
    dependencies = [("tools", "0003_codebase_index")]

    operations = [
        migrations.AddIndex(
            model_name="memoryterm",
            index=models.Index(fields=["memory", "term", "impact"], name="memoryterm_memory_idx"),
        ),
        migrations.AlterField(
            model_name="memoryterm",
            name="memory",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="terms",
                to="tools.memory",
            ),
        ),
        migrations.RunPython(reindex, migrations.RunPython.noop),
    ]
