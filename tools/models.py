"""Where a tool's data lives: the per-tenant ``Tool`` rows admins edit, the data the built-in tools own
(documents, memories, codebases) and the audit record of every tool call."""

from __future__ import annotations

import uuid

from django.db import models

from authz.models import Scope, Tenant


class Tool(models.Model):
    """A registered handler as one tenant exposes it. The code (schema, handler) is in ``tools.registry``."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="tools")
    name = models.CharField(max_length=64, help_text="The registered handler's name; the MCP tool name.")
    enabled = models.BooleanField(default=True)
    title = models.CharField(max_length=120, blank=True)
    description = models.TextField(blank=True)
    scopes = models.ManyToManyField(
        Scope,
        blank=True,
        related_name="tools",
        help_text="A token needs all of these to call the tool (Auth0 API permissions).",
    )
    noauth = models.BooleanField(
        default=False,
        help_text="Callable without a token when the tenant's AUTH_MODE is optional (securitySchemes noauth).",
    )

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="unique_tool_per_tenant")]

    def __str__(self) -> str:
        return f"{self.tenant.slug}:{self.name}"


class Document(models.Model):
    """A document made by ``docs.create``."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="documents")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    title = models.CharField(max_length=120)
    body = models.TextField()
    summary = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    author = models.CharField(max_length=255, blank=True, help_text="Token subject (sub) of the creator.")
    client_id = models.CharField(max_length=255, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.title


class Memory(models.Model):
    """A memory of one user (token subject) in one tenant; nobody else ever reads or deletes it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memories")
    subject = models.CharField(max_length=255)
    content = models.TextField()
    tags = models.JSONField(default=list, blank=True)
    importance = models.PositiveSmallIntegerField(default=5)
    domain = models.CharField(max_length=100, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        verbose_name_plural = "memories"
        indexes = [models.Index(fields=["tenant", "subject", "-created"], name="memory_owner_idx")]

    def __str__(self) -> str:
        return self.content[:60]


class MemoryTerm(models.Model):
    """One posting of the memory search index (``tools.memories``): a word of a memory, its owner's key and
    its precomputed BM25 impact. Written only by ``tools.memories`` (store, save signal, ``index_memories``)."""

    # Indexed with the term and impact (memoryterm_memory_idx), which serves cascade deletes and "this
    # memory's posting of that term" probes (tag filters, tag-driven searches) alike, without a table read.
    memory = models.ForeignKey(Memory, on_delete=models.CASCADE, related_name="terms", db_index=False)
    owner = models.CharField(max_length=16, help_text="tools.memories.owner_key(tenant id, subject).")
    term = models.CharField(max_length=64)
    impact = models.FloatField()

    class Meta:
        indexes = [
            models.Index(fields=["owner", "term", "-impact", "-memory"], name="memoryterm_top_idx"),
            models.Index(fields=["memory", "term", "impact"], name="memoryterm_memory_idx"),
        ]

    def __str__(self) -> str:
        return self.term


def _reindex_memory(sender: type[Memory], instance: Memory, created: bool, **kwargs: object) -> None:
    """Keeps a saved memory's postings in step (admin edits included); deletes cascade to the postings."""
    from tools.memories import reindex_after_save

    reindex_after_save(instance, created, kwargs.get("update_fields"))  # type: ignore[arg-type]


models.signals.post_save.connect(_reindex_memory, sender=Memory, dispatch_uid="tools.memories.reindex")


class Codebase(models.Model):
    """A directory tree that ``codebase.search`` may read; nothing outside ``root`` is ever opened."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="codebases")
    name = models.CharField(max_length=64)
    root = models.CharField(max_length=500, help_text="Absolute path of the tree on the server.")
    include = models.TextField(blank=True, help_text="Glob patterns to include, one per line (empty: all files).")
    exclude = models.TextField(blank=True, help_text="Glob patterns to skip, one per line.")

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="unique_codebase_per_tenant")]

    def __str__(self) -> str:
        return self.name


class CodebaseIndex(models.Model):
    """State of a codebase's search index (``tools.codebase_index``): which generation is live, and counts.

    Files and postings carry a generation number; a query reads only rows with ``first <= generation <=
    last``, so a re-index writes its rows first and makes them visible by moving ``last`` (or ``first``, for a
    full rebuild) in one short transaction. ``version`` changes with every switch (per-process caches key on it).
    """

    codebase = models.OneToOneField(Codebase, on_delete=models.CASCADE, primary_key=True, related_name="index")
    fingerprint = models.CharField(max_length=64, blank=True, help_text="Hash of root, include and exclude indexed.")
    version = models.PositiveIntegerField(default=0)
    first = models.PositiveIntegerField(default=1)
    last = models.PositiveIntegerField(default=0)
    files = models.PositiveIntegerField(default=0)
    lines = models.PositiveBigIntegerField(default=0)
    bytes = models.PositiveBigIntegerField(default=0, help_text="Characters of indexed text.")
    posting_bytes = models.PositiveBigIntegerField(default=0)
    indexed_at = models.DateTimeField(null=True, blank=True)
    running_since = models.DateTimeField(null=True, blank=True, help_text="Set while a re-index runs (a lease).")
    last_report = models.JSONField(default=dict, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "codebase indexes"

    def __str__(self) -> str:
        return f"index of {self.codebase_id}"


class CodebaseFile(models.Model):
    """One indexed file: its text as read at index time (queries never open the file again)."""

    codebase = models.ForeignKey(Codebase, on_delete=models.CASCADE, related_name="indexed_files")
    generation = models.PositiveIntegerField()
    path = models.CharField(max_length=1024)
    size = models.PositiveBigIntegerField()
    mtime_ns = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    lines = models.PositiveIntegerField()
    is_ascii = models.BooleanField()
    content = models.TextField()
    folded = models.TextField(help_text="tools.codebase_index.fold(content): the database's substring prefilter.")

    class Meta:
        indexes = [models.Index(fields=["codebase", "generation"], name="codebase_file_gen_idx")]

    def __str__(self) -> str:
        return self.path


class CodebaseTrigram(models.Model):
    """Posting list: the ids of a generation's files whose case-folded text holds one trigram."""

    codebase = models.ForeignKey(Codebase, on_delete=models.CASCADE, related_name="+")
    generation = models.PositiveIntegerField()
    trigram = models.IntegerField()
    files = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["codebase", "trigram", "generation"], name="unique_codebase_trigram")
        ]


class ToolCall(models.Model):
    """Audit record of one ``tools/call``: who called what, how it ended and how long it took."""

    class Outcome(models.TextChoices):
        OK = "ok"
        TOOL_ERROR = "tool_error"
        DENIED = "denied"
        FAILED = "failed"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="tool_calls")
    subject = models.CharField(max_length=255, blank=True)
    client_id = models.CharField(max_length=255, blank=True)
    tool = models.CharField(max_length=64)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.FloatField()
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created"]
