"""The search index of registered codebases, kept in the database so every web worker shares it.

What is stored (``tools.models``): each indexed file's text (``CodebaseFile``) and, per trigram of the
case-folded text, the ids of the files that hold it (``CodebaseTrigram``, a packed posting list). A query
turns its text (or a regular expression's required literals) into trigrams, intersects their posting lists
into candidate files, and verifies every match exactly in Python on the stored text. Trigrams never decide
a result, they only rule files out, so results are those of a plain scan of the indexed text.

Case folding for trigrams (``fold``): ASCII letters are lowered; the four non-ASCII characters that Python's
``re.IGNORECASE`` matches to an ASCII letter (U+0130, U+0131, U+017F, U+212A) become that letter; every other non-ASCII
character becomes one placeholder byte. Any text a case-insensitive match could equal therefore folds to the
same bytes as the query, which keeps the prefilter sound for both case modes.

Re-indexing (``reindex``) compares each walked file's size and mtime (then its SHA-256) with what is stored,
reads only what changed, and writes new rows under a new *generation* number that queries do not yet see.
One short transaction then deletes the replaced rows and publishes the generation (``CodebaseIndex.last``);
a full rebuild (the first one, or when too many generations pile up) publishes a single generation by moving
``first`` too. Readers never wait for a build, and a build that dies leaves rows that the next one clears.
Only ``tools.codebase_files`` reads files, under its confinement rules; queries never open a file.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import os
import re
import sys
import time
import warnings
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import regex
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from tools import codebase_files
from tools.models import Codebase, CodebaseFile, CodebaseIndex, CodebaseTrigram

logger = logging.getLogger(__name__)

MAX_LINE_CHARS = 300
MAX_GENERATIONS = 8  # live generations before a re-index compacts them into one
REBUILD_FRACTION = 0.25  # a re-index that rewrites more than this share of the files rebuilds everything
LEASE = timedelta(hours=1)  # a re-index that has held the lease longer than this is presumed dead
WRITE_BATCH = 200
POSTING_BATCH = 2000
QUERY_KEYS = 48  # most trigrams of one query looked up (any subset keeps the prefilter sound)
CONTENT_BATCHES = (8, 64, 512)
REGEX_BUDGET_SECONDS = 2.0
_ID_FORMAT = "I" if array("I").itemsize == 4 else "L"
_LITTLE = sys.byteorder == "little"


class SearchError(ValueError):
    """Input the caller must fix (bad regex, unknown codebase, ...); the message is shown as is."""


# --------------------------------------------------------------------------------------------- folding

_FOLD_TO_ASCII = {"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"}
_PLACEHOLDER = "\x7f"  # not NUL: PostgreSQL text cannot hold it


def _fold_errors(exc: UnicodeError) -> tuple[str, int]:
    assert isinstance(exc, UnicodeEncodeError)
    chunk = exc.object[exc.start : exc.end]
    return "".join(_FOLD_TO_ASCII.get(char, _PLACEHOLDER) for char in chunk), exc.end


codecs.register_error("cortex-trigram-fold", _fold_errors)


def fold(text: str) -> bytes:
    """One byte per character: ASCII lowered, case-equivalents of ASCII letters mapped, the rest a placeholder."""
    return text.encode("ascii", "cortex-trigram-fold").lower()


def _key(gram: bytes) -> int:
    return (gram[0] << 16) | (gram[1] << 8) | gram[2]


def file_trigrams(text: str) -> set[bytes]:
    """The distinct trigrams of ``text``'s folded lines (matches never span lines, so neither do trigrams)."""
    grams: set[bytes] = set()
    for line in set(fold(text).split(b"\n")):
        if len(line) >= 3:
            grams.update([line[i : i + 3] for i in range(len(line) - 2)])
    return grams


def query_keys(literals: Iterable[str]) -> list[int] | None:
    """Trigram keys every matching file holds, or ``None`` when the literals are too short to say anything."""
    keys: set[int] = set()
    for literal in literals:
        folded = fold(literal)
        keys.update(_key(folded[i : i + 3]) for i in range(len(folded) - 2))
    if not keys:
        return None
    return sorted(keys)[:QUERY_KEYS] if len(keys) > QUERY_KEYS else sorted(keys)


def _pack(ids: list[int]) -> bytes:
    ids.sort()
    if ids and ids[-1] >= 2**32:
        packed = array("q", ids)
        code = b"q"
    else:
        packed = array(_ID_FORMAT, ids)
        code = b"I"
    if not _LITTLE:
        packed.byteswap()
    return code + packed.tobytes()


def _unpack(blob: bytes | memoryview) -> array[int]:
    data = bytes(blob)
    packed = array("q" if data[:1] == b"q" else _ID_FORMAT)
    packed.frombytes(data[1:])
    if not _LITTLE:
        packed.byteswap()
    return packed


def fingerprint(codebase: Codebase) -> str:
    """What an index was built for: a changed root or glob list means the index no longer describes the tree."""
    source = "\0".join([os.path.realpath(codebase.root), codebase.include, codebase.exclude])
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


# --------------------------------------------------------------------------------------------- re-index


@dataclass
class _Stored:
    id: int
    size: int
    mtime_ns: int
    sha256: str


def _line_count(text: str) -> int:
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def reindex(codebase: Codebase, *, full: bool = False) -> dict[str, Any]:
    """Bring ``codebase``'s index up to date with its tree; returns a report (counts, seconds, status).

    Safe to call from several processes: a lease on the ``CodebaseIndex`` row lets one run at a time, and
    the others return ``status: "busy"`` at once. ``full`` re-reads every file and rebuilds all postings.
    Raises ``FileNotFoundError`` when the root is not a directory (recorded in ``last_error``).
    """
    state, _ = CodebaseIndex.objects.get_or_create(codebase=codebase)
    now = timezone.now()
    free = Q(running_since__isnull=True) | Q(running_since__lt=now - LEASE)
    if not CodebaseIndex.objects.filter(pk=state.pk).filter(free).update(running_since=now):
        return {"codebase": codebase.name, "status": "busy"}
    try:
        state.refresh_from_db()
        report = _reindex(codebase, state, full)
    except Exception as exc:
        CodebaseIndex.objects.filter(pk=state.pk).update(running_since=None, last_error=f"{type(exc).__name__}: {exc}")
        raise
    CodebaseIndex.objects.filter(pk=state.pk).update(running_since=None, last_error="", last_report=report)
    return report


def _reindex(codebase: Codebase, state: CodebaseIndex, full: bool) -> dict[str, Any]:
    started = time.perf_counter()
    walked = codebase_files.walk(codebase)
    generation = state.last + 1
    # Rows of a run that died before publishing them.
    CodebaseFile.objects.filter(codebase=codebase, generation__gt=state.last).delete()
    CodebaseTrigram.objects.filter(codebase=codebase, generation__gt=state.last).delete()
    live = CodebaseFile.objects.filter(codebase=codebase, generation__gte=state.first, generation__lte=state.last)
    stored = {
        path: _Stored(pk, size, mtime_ns, sha)
        for pk, path, size, mtime_ns, sha in live.values_list("id", "path", "size", "mtime_ns", "sha256")
    }
    kept: set[int] = set()
    touched: list[CodebaseFile] = []
    fresh: list[CodebaseFile] = []
    skipped = 0
    for rel, real in walked.files:
        try:
            info = os.stat(real)
        except OSError:
            skipped += 1
            continue
        old = stored.get(rel)
        if old is not None and not full and old.size == info.st_size and old.mtime_ns == info.st_mtime_ns:
            kept.add(old.id)
            continue
        text = codebase_files.read_text(real)
        if text is None or "\x00" in text:  # binary after all (and PostgreSQL text cannot hold NUL)
            skipped += 1
            continue
        sha = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        if old is not None and not full and old.sha256 == sha:
            kept.add(old.id)
            touched.append(CodebaseFile(id=old.id, size=info.st_size, mtime_ns=info.st_mtime_ns))
            continue
        fresh.append(
            CodebaseFile(
                codebase=codebase,
                generation=generation,
                path=rel,
                size=info.st_size,
                mtime_ns=info.st_mtime_ns,
                sha256=sha,
                lines=_line_count(text),
                is_ascii=text.isascii(),
                content=text,
                folded=fold(text).decode("ascii"),
            )
        )
    removed = [item.id for item in stored.values() if item.id not in kept]
    added = sum(1 for row in fresh if row.path not in stored)
    live_generations = state.last - state.first + 1 if state.last else 0
    rebuild = (
        full
        or state.last == 0
        or live_generations >= MAX_GENERATIONS
        or len(fresh) > REBUILD_FRACTION * max(len(kept) + len(fresh), 1)
    )
    read_seconds = time.perf_counter() - started

    for start in range(0, len(fresh), WRITE_BATCH):
        with transaction.atomic():
            CodebaseFile.objects.bulk_create(fresh[start : start + WRITE_BATCH])

    changed = bool(fresh or removed)
    posting_bytes = state.posting_bytes
    if changed or rebuild:
        postings: dict[bytes, list[int]] = {}
        for row in fresh:
            for gram in file_trigrams(row.content):
                postings.setdefault(gram, []).append(row.id)  # type: ignore[arg-type]
        if rebuild:
            kept_rows = live.values_list("id", "content")
            for pk, content in kept_rows.iterator(chunk_size=WRITE_BATCH):
                if pk not in kept:
                    continue
                for gram in file_trigrams(content):
                    postings.setdefault(gram, []).append(pk)
            posting_bytes = 0
        written = _write_postings(codebase, generation, postings)
        posting_bytes += written

    with transaction.atomic():
        for start in range(0, len(removed), 500):
            CodebaseFile.objects.filter(id__in=removed[start : start + 500]).delete()
        if touched:
            CodebaseFile.objects.bulk_update(touched, ["size", "mtime_ns"], batch_size=500)
        if changed or rebuild:
            if rebuild:
                CodebaseFile.objects.filter(codebase=codebase).exclude(generation=generation).update(
                    generation=generation
                )
                state.first = generation
            state.last = generation
            state.version += 1
        totals = CodebaseFile.objects.filter(codebase=codebase).aggregate(lines=Sum("lines"), size=Sum("size"))
        state.files = len(kept) + len(fresh)
        state.lines = totals["lines"] or 0
        state.bytes = totals["size"] or 0
        state.posting_bytes = posting_bytes
        state.fingerprint = fingerprint(codebase)
        state.indexed_at = timezone.now()
        CodebaseIndex.objects.filter(pk=state.pk).update(
            first=state.first,
            last=state.last,
            version=state.version,
            files=state.files,
            lines=state.lines,
            bytes=state.bytes,
            posting_bytes=state.posting_bytes,
            fingerprint=state.fingerprint,
            indexed_at=state.indexed_at,
        )
    if rebuild:
        CodebaseTrigram.objects.filter(codebase=codebase, generation__lt=generation).delete()
    if changed and connection.vendor == "postgresql":
        # Fresh statistics, or the planner may scan every posting of the codebase instead of looking up the
        # query's trigrams (30 ms instead of 0.3 ms on the standard library before autovacuum gets to it).
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {CodebaseTrigram._meta.db_table}, {CodebaseFile._meta.db_table}")
    return {
        "codebase": codebase.name,
        "status": "rebuilt" if rebuild else ("updated" if changed else "unchanged"),
        "files": state.files,
        "added": added,
        "changed": len(fresh) - added,
        "deleted": len(removed) - (len(fresh) - added),
        "skipped": skipped,
        "truncated": walked.truncated,
        "lines": state.lines,
        "bytes": state.bytes,
        "posting_bytes": state.posting_bytes,
        "generation": generation if (changed or rebuild) else state.last,
        "read_seconds": round(read_seconds, 3),
        "seconds": round(time.perf_counter() - started, 3),
    }


def _write_postings(codebase: Codebase, generation: int, postings: dict[bytes, list[int]]) -> int:
    rows: list[CodebaseTrigram] = []
    total = 0
    for gram, ids in postings.items():
        blob = _pack(ids)
        total += len(blob)
        rows.append(CodebaseTrigram(codebase=codebase, generation=generation, trigram=_key(gram), files=blob))
        if len(rows) >= POSTING_BATCH:
            with transaction.atomic():
                CodebaseTrigram.objects.bulk_create(rows)
            rows = []
    if rows:
        with transaction.atomic():
            CodebaseTrigram.objects.bulk_create(rows)
    return total


def is_current(codebase: Codebase) -> bool:
    """True when the codebase has a published index built for its present root and globs."""
    try:
        state = codebase.index
    except CodebaseIndex.DoesNotExist:
        return False
    return state.last > 0 and state.fingerprint == fingerprint(codebase)


# --------------------------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class Query:
    text: str
    regex: bool = False
    case_sensitive: bool = False
    path_glob: str | None = None
    context: int = 0
    limit: int = 50
    offset: int = 0


def _cut(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + "…"


def _strip_cr(line: str) -> str:
    return line[:-1] if line.endswith("\r") else line


def _around(content: str, start: int, end: int, context: int) -> tuple[list[str], list[str]]:
    """Up to ``context`` lines before the line ``content[start:end]`` and after it."""
    before: list[str] = []
    cursor = start
    while len(before) < context and cursor > 0:
        previous = content.rfind("\n", 0, cursor - 1) + 1
        before.append(_cut(_strip_cr(content[previous : cursor - 1])))
        cursor = previous
    before.reverse()
    after: list[str] = []
    cursor = end
    while len(after) < context and cursor + 1 < len(content):
        following = content.find("\n", cursor + 1)
        if following < 0:
            following = len(content)
        after.append(_cut(_strip_cr(content[cursor + 1 : following])))
        cursor = following
    return before, after


class Matcher:
    """Finds the matches of one query in one file's text: ``(line, column, text, before, after)`` tuples."""

    keys: list[int] | None
    needle: str | None  # every matching file's folded text contains it (checked by the database)

    def find(self, content: str, is_ascii: bool, context: int) -> Iterator[tuple[int, int, str, list[str], list[str]]]:
        raise NotImplementedError


class LiteralMatcher(Matcher):
    def __init__(self, text: str, case_sensitive: bool) -> None:
        if "\n" in text or "\r" in text:
            raise SearchError("query must be a single line: it cannot contain a line break")
        self.text = text
        self.case_sensitive = case_sensitive
        self.lowered = text.lower() if text.isascii() else None
        self.folded = fold(text)
        self.pattern = re.compile(re.escape(text), re.IGNORECASE)
        self.keys = query_keys([text])
        self.needle = self.folded.decode("ascii")

    def _spans(self, content: str, is_ascii: bool) -> Iterator[int]:
        if self.case_sensitive:
            haystack: str | bytes = content
            needle: str | bytes = self.text
        elif is_ascii and self.lowered is not None:
            haystack, needle = content.lower(), self.lowered
        else:
            # The folded text has one byte per character and every case-insensitive match folds equal, so
            # its occurrences are a superset of the matches at the same offsets: confirm each with ``re``.
            # Leftmost-first and continuing after each match is what ``finditer`` does, so results agree.
            folded, step, match = fold(content), len(self.folded), self.pattern.match
            position = folded.find(self.folded)
            while position >= 0:
                if match(content, position):
                    yield position
                    position = folded.find(self.folded, position + step)
                else:
                    position = folded.find(self.folded, position + 1)
            return
        step = len(needle)
        position = haystack.find(needle)  # type: ignore[arg-type]
        while position >= 0:
            yield position
            position = haystack.find(needle, position + step)  # type: ignore[arg-type]

    def find(self, content: str, is_ascii: bool, context: int) -> Iterator[tuple[int, int, str, list[str], list[str]]]:
        number, start, end = 1, 0, -1
        for position in self._spans(content, is_ascii):
            if position > end:
                line_start = content.rfind("\n", 0, position) + 1
                number += content.count("\n", start, line_start)
                start = line_start
                end = content.find("\n", position)
                if end < 0:
                    end = len(content)
                line = _strip_cr(content[start:end])
                around = _around(content, start, end, context) if context else ([], [])
            yield number, position - start + 1, line, around[0], around[1]


def required_literals(pattern: str, flags: int) -> list[str]:
    """Literal runs every match of ``pattern`` contains (top-level sequence only); empty when unsure.

    Parsed with the standard library's parser, which agrees with the ``regex`` module on what a plain
    literal is; patterns with POSIX classes (``[[:alpha:]]``, read differently by the two) are not analysed.
    """
    if "[:" in pattern:
        return []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = re._parser.parse(pattern, flags)  # type: ignore[attr-defined]
    except Exception:
        return []
    literals: list[str] = []
    run: list[str] = []
    for op, value in parsed:
        if op is re._constants.LITERAL:  # type: ignore[attr-defined]
            run.append(chr(value))
            continue
        if run:
            literals.append("".join(run))
            run = []
    if run:
        literals.append("".join(run))
    return [literal for literal in literals if len(literal) >= 3]


class RegexMatcher(Matcher):
    def __init__(self, text: str, case_sensitive: bool) -> None:
        flags = regex.V0 | (0 if case_sensitive else regex.IGNORECASE)
        try:
            self.pattern = regex.compile(text, flags)
        except (regex.error, ValueError, OverflowError) as exc:
            raise SearchError(f"Invalid regular expression: {exc}") from None
        literals = required_literals(text, 0 if case_sensitive else re.IGNORECASE)
        self.keys = query_keys(literals)
        self.needle = fold(max(literals, key=len)).decode("ascii") if literals else None
        exact = case_sensitive and not (self.pattern.flags & regex.IGNORECASE)
        self.line_literal = max(literals, key=len) if literals and exact else None
        self.deadline = time.monotonic() + REGEX_BUDGET_SECONDS

    def find(self, content: str, is_ascii: bool, context: int) -> Iterator[tuple[int, int, str, list[str], list[str]]]:
        literal = self.line_literal
        if literal is not None and literal not in content:
            return
        lines = content.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        for index, raw in enumerate(lines):
            if literal is not None and literal not in raw:
                continue
            line = _strip_cr(raw)
            remaining = self.deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                found = list(self.pattern.finditer(line, timeout=remaining))
            except TimeoutError:
                raise SearchError(
                    f"The regular expression took more than {REGEX_BUDGET_SECONDS:g} s: make it more specific "
                    "(a literal part helps), or narrow the search with codebase or path_glob"
                ) from None
            for item in found:
                if item.end() == item.start():
                    continue  # empty matches (``^``, ``x*``) say nothing and would flood the result
                before = [_cut(_strip_cr(x)) for x in lines[max(0, index - context) : index]]
                after = [_cut(_strip_cr(x)) for x in lines[index + 1 : index + 1 + context]]
                yield index + 1, item.start() + 1, line, before, after


def matcher(query: Query) -> Matcher:
    if query.regex:
        return RegexMatcher(query.text, query.case_sensitive)
    return LiteralMatcher(query.text, query.case_sensitive)


# --------------------------------------------------------------------------------------------- query


@dataclass
class _FileMap:
    version: int
    first: int
    last: int
    paths: dict[int, str]
    rank: dict[int, int]
    ordered: list[int]


_maps: dict[int, _FileMap] = {}


def _file_map(codebase: Codebase, state: CodebaseIndex) -> _FileMap:
    """The index's files (id -> path, path order), cached per process until the index version changes."""
    cached = _maps.get(codebase.pk)
    if cached is not None and (cached.version, cached.first, cached.last) == (state.version, state.first, state.last):
        return cached
    rows = sorted(
        CodebaseFile.objects.filter(
            codebase=codebase, generation__gte=state.first, generation__lte=state.last
        ).values_list("path", "id")
    )
    ordered = [pk for _, pk in rows]
    built = _FileMap(
        version=state.version,
        first=state.first,
        last=state.last,
        paths={pk: path for path, pk in rows},
        rank={pk: index for index, pk in enumerate(ordered)},
        ordered=ordered,
    )
    _maps[codebase.pk] = built
    return built


def _candidates(codebase: Codebase, state: CodebaseIndex, files: _FileMap, keys: list[int] | None) -> list[int]:
    if keys is None:
        return files.ordered
    rows = CodebaseTrigram.objects.filter(
        codebase=codebase, generation__gte=state.first, generation__lte=state.last, trigram__in=keys
    ).values_list("trigram", "files")
    found: dict[int, set[int]] = {}
    for key, blob in rows:
        found.setdefault(key, set()).update(_unpack(blob))
    if len(found) < len(keys):
        return []  # a trigram no file holds
    sets = sorted(found.values(), key=len)
    result = sets[0]
    for other in sets[1:]:
        result = result & other
        if not result:
            return []
    rank = files.rank
    return sorted((pk for pk in result if pk in rank), key=rank.__getitem__)


def _indexed_texts(
    codebase: Codebase, state: CodebaseIndex, found: Matcher, wanted: Any
) -> Iterator[tuple[str, str, bool]]:
    """Candidate files' texts in path order; the database drops those whose folded text lacks the needle,
    so only (nearly) true hits travel to Python."""
    files = _file_map(codebase, state)
    candidates = _candidates(codebase, state, files, found.keys)
    if wanted is not None:
        candidates = [pk for pk in candidates if wanted.match_file(files.paths[pk])]
    start = 0
    for round_ in range(len(candidates)):
        if start >= len(candidates):
            return
        size = CONTENT_BATCHES[min(round_, len(CONTENT_BATCHES) - 1)]
        batch = candidates[start : start + size]
        start += size
        rows = CodebaseFile.objects.filter(id__in=batch)
        if found.needle:
            rows = rows.filter(folded__contains=found.needle)
        texts = {pk: (content, is_ascii) for pk, content, is_ascii in rows.values_list("id", "content", "is_ascii")}
        for pk in batch:
            if pk in texts:
                yield files.paths[pk], texts[pk][0], texts[pk][1]


def _scanned_texts(walked: codebase_files.Walk) -> Iterator[tuple[str, str, bool]]:
    for rel, real in walked.files:
        text = codebase_files.read_text(real)
        if text is not None:
            yield rel, text, text.isascii()


@dataclass
class Result:
    matches: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False
    scanned: list[str] = field(default_factory=list)  # codebases searched without an index (not built yet)


def search(tenant_id: int, codebase_name: str | None, query: Query) -> Result:
    """Matches of ``query`` in the tenant's codebases (one, when named), in (codebase, path, line, column)
    order, skipping ``offset`` matches and returning at most ``limit``; ``truncated`` when more exist.

    A codebase whose index is missing or was built for another root or glob list is scanned directly
    (bounded by ``tools.codebase_files``); a missing root is an error only when that codebase was named.
    """
    found = matcher(query)
    wanted = None
    if query.path_glob is not None:
        try:
            codebase_files.check_glob(query.path_glob)
        except codebase_files.UnsafeGlob as exc:
            raise SearchError(str(exc)) from None
        wanted = codebase_files.compile_glob([query.path_glob])
    rows = Codebase.objects.filter(tenant_id=tenant_id).select_related("index").order_by("name")
    if codebase_name is not None:
        rows = rows.filter(name=codebase_name)
    codebases = list(rows)
    if codebase_name is not None and not codebases:
        raise SearchError(f"Unknown codebase: {codebase_name}")
    wanted_count = query.offset + query.limit
    result = Result()
    seen = 0
    for codebase in codebases:
        if is_current(codebase):
            texts = _indexed_texts(codebase, codebase.index, found, wanted)
        else:
            result.scanned.append(codebase.name)
            try:
                walked = codebase_files.walk(codebase, query.path_glob)
            except FileNotFoundError as exc:
                if codebase_name is not None:
                    raise SearchError(str(exc)) from None
                continue  # searching everything: an unavailable tree is skipped, not fatal
            result.truncated = result.truncated or walked.truncated
            texts = _scanned_texts(walked)
        for path, content, is_ascii in texts:
            for line, column, text, before, after in found.find(content, is_ascii, query.context):
                if seen >= wanted_count:
                    result.truncated = True
                    return result
                seen += 1
                if seen > query.offset:
                    result.matches.append(
                        {
                            "codebase": codebase.name,
                            "path": path,
                            "line": line,
                            "column": column,
                            "text": _cut(text),
                            "before": before,
                            "after": after,
                        }
                    )
    return result
