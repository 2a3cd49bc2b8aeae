"""tools.codebase_index: folding and trigram soundness, regex literals, build and incremental re-index,
generations (publish, compaction, leftovers of a dead run), the lease, the command, and index-only reads."""

from __future__ import annotations

import os
import random
import re
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from authz.models import Tenant
from tools import codebase_index
from tools.codebase_index import Query, SearchError, fold, query_keys, required_literals, search
from tools.models import Codebase, CodebaseFile, CodebaseIndex, CodebaseTrigram

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_caches")]


@pytest.fixture
def tenant() -> Tenant:
    return Tenant.objects.create(slug="index-co", name="Index Co", resource_url="https://index.example/mcp")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "pkg").mkdir(parents=True)
    (root / "a.py").write_text("alpha = 1\nneedle = 'first'\n")
    (root / "pkg" / "b.py").write_text("beta = 2\n")
    (root / "pkg" / "c.py").write_text("gamma = 3\nneedle in c\n")
    (root / "d.txt").write_text("delta\n")
    return root


@pytest.fixture
def codebase(tenant: Tenant, tree: Path) -> Codebase:
    return Codebase.objects.create(tenant=tenant, name="demo", root=os.path.realpath(tree))


def hits(tenant: Tenant, text: str, **options: object) -> list[tuple[str, int, int]]:
    result = search(tenant.pk, None, Query(text=text, **options))  # type: ignore[arg-type]
    return [(m["path"], m["line"], m["column"]) for m in result.matches]


def bump(path: Path, text: str) -> None:
    """Write ``text`` with an mtime that surely differs from the previous one."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    os.utime(path, ns=(before + 10**9, before + 10**9))


# ------------------------------------------------------------------------------------- folding, trigrams


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Hello", b"hello"),
        ("A-Z_09", b"a-z_09"),
        ("\u212aelvin", b"kelvin"),
        ("\u017ftop", b"stop"),
        ("\u0130\u0131", b"ii"),
        ("caf\u00e9 \u03a3\u03c3", b"caf\x7f \x7f\x7f"),
        ("\U0001f600x", b"\x7fx"),
    ],
)
def test_fold_is_one_byte_per_character(text: str, folded: bytes) -> None:
    assert fold(text) == folded
    assert len(fold(text)) == len(text)


ALPHABET = "aAkKsSiIxX\u212a\u017f\u0130\u0131\u03c3\u03a3\u03c2\u00e9\u00c9 ._(\t"


def test_every_match_passes_the_trigram_prefilter() -> None:
    """For random texts and queries: whenever re finds the query (either case mode), the text's trigrams
    hold all of the query's. This is what makes the index unable to lose a match."""
    rng = random.Random(1234)
    checked = 0
    for _ in range(4000):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(3, 30)))
        start = rng.randint(0, len(text) - 3)
        query = text[start : start + rng.randint(3, 6)]
        query = "".join(c.swapcase() if rng.random() < 0.5 else c for c in query)
        text_keys = {codebase_index._key(g) for g in codebase_index.file_trigrams(text)}
        for flags in (0, re.IGNORECASE):
            if re.search(re.escape(query), text, flags):
                keys = query_keys([query])
                assert keys is not None
                assert set(keys) <= text_keys, (text, query, flags)
                checked += 1
    assert checked > 2000


def test_short_queries_have_no_keys() -> None:
    assert query_keys(["ab"]) is None
    assert query_keys([]) is None
    assert query_keys(["abc"]) == [codebase_index._key(b"abc")]
    assert len(query_keys(["".join(chr(33 + i) for i in range(90))]) or []) == codebase_index.QUERY_KEYS


@pytest.mark.parametrize("ids", [[], [1], [5, 3, 2**32 - 1], [2**32, 7, 2**40]])
def test_posting_lists_round_trip(ids: list[int]) -> None:
    assert list(codebase_index._unpack(codebase_index._pack(list(ids)))) == sorted(ids)


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        ("foo.*bar", ["foo", "bar"]),
        (r"hello\.world", ["hello.world"]),
        (r"\bdef\s+(\w+)", ["def"]),
        ("(?i)Hello", ["Hello"]),
        ("a|bcdef", []),
        ("abc+", []),
        ("abcd+", ["abc"]),
        ("x(abcd)y", []),
        ("[[:alpha:]]abcd", []),
        ("(unclosed", []),
        (r"\p{L}+word", []),
        ("", []),
    ],
)
def test_required_literals(pattern: str, literals: list[str]) -> None:
    assert required_literals(pattern, 0) == literals


# ------------------------------------------------------------------------------------- build, re-index


def test_first_build_then_unchanged(tenant: Tenant, codebase: Codebase) -> None:
    report = codebase_index.reindex(codebase)
    assert {k: report[k] for k in ("status", "files", "added", "changed", "deleted", "lines")} == {
        "status": "rebuilt",
        "files": 4,
        "added": 4,
        "changed": 0,
        "deleted": 0,
        "lines": 6,
    }
    state = CodebaseIndex.objects.get(codebase=codebase)
    assert (state.first, state.last, state.version, state.files, state.running_since) == (1, 1, 1, 4, None)
    assert state.posting_bytes == report["posting_bytes"] > 0
    again = codebase_index.reindex(codebase)
    assert again["status"] == "unchanged"
    assert CodebaseIndex.objects.get(codebase=codebase).version == 1
    assert hits(tenant, "needle") == [("a.py", 2, 1), ("pkg/c.py", 2, 1)]


def test_incremental_reindex_sees_changed_added_deleted_files(tenant: Tenant, codebase: Codebase, tree: Path) -> None:
    for n in range(12):  # enough files that a few changes stay incremental
        (tree / f"filler{n:02}.txt").write_text(f"filler {n}\n")
    codebase_index.reindex(codebase)
    untouched_id = CodebaseFile.objects.get(path="pkg/b.py").pk
    bump(tree / "a.py", "alpha = 1\nno longer here\nneedle again\n")  # changed
    (tree / "new.py").write_text("needle new\n")  # added
    (tree / "pkg" / "c.py").unlink()  # deleted
    os.utime(tree / "pkg" / "b.py", ns=(1, 1))  # touched: same content, other mtime
    report = codebase_index.reindex(codebase)
    assert {k: report[k] for k in ("status", "added", "changed", "deleted", "files")} == {
        "status": "updated",
        "added": 1,
        "changed": 1,
        "deleted": 1,
        "files": 16,
    }
    assert CodebaseFile.objects.get(path="pkg/b.py").pk == untouched_id  # not rewritten
    assert CodebaseFile.objects.get(path="pkg/b.py").mtime_ns == 1
    state = CodebaseIndex.objects.get(codebase=codebase)
    assert (state.first, state.last) == (1, 2)
    assert hits(tenant, "needle") == [("a.py", 3, 1), ("new.py", 1, 1)]
    assert hits(tenant, "no longer") == [("a.py", 2, 1)]
    assert hits(tenant, "gamma") == []


def test_a_large_change_rebuilds_and_drops_old_postings(tenant: Tenant, codebase: Codebase, tree: Path) -> None:
    codebase_index.reindex(codebase)
    bump(tree / "a.py", "changed a\n")
    bump(tree / "d.txt", "changed d\n")
    report = codebase_index.reindex(codebase)
    assert report["status"] == "rebuilt"
    state = CodebaseIndex.objects.get(codebase=codebase)
    assert state.first == state.last == 2
    assert not CodebaseTrigram.objects.filter(codebase=codebase, generation__lt=2).exists()
    assert set(CodebaseFile.objects.filter(codebase=codebase).values_list("generation", flat=True)) == {2}
    assert hits(tenant, "changed") == [("a.py", 1, 1), ("d.txt", 1, 1)]


def test_generations_are_compacted(tenant: Tenant, codebase: Codebase, tree: Path) -> None:
    for n in range(40):
        (tree / f"filler{n:02}.txt").write_text(f"filler {n}\n")
    codebase_index.reindex(codebase)
    statuses = []
    for n in range(codebase_index.MAX_GENERATIONS + 1):
        bump(tree / "a.py", f"version {n}\n")
        statuses.append(codebase_index.reindex(codebase)["status"])
    assert statuses[: codebase_index.MAX_GENERATIONS - 1] == ["updated"] * (codebase_index.MAX_GENERATIONS - 1)
    assert "rebuilt" in statuses[codebase_index.MAX_GENERATIONS - 1 :]
    state = CodebaseIndex.objects.get(codebase=codebase)
    assert state.last - state.first < codebase_index.MAX_GENERATIONS
    assert hits(tenant, "version") == [("a.py", 1, 1)]
    assert hits(tenant, f"version {codebase_index.MAX_GENERATIONS}") == [("a.py", 1, 1)]


def test_rows_of_a_dead_run_are_invisible_then_cleared(tenant: Tenant, codebase: Codebase) -> None:
    codebase_index.reindex(codebase)
    state = CodebaseIndex.objects.get(codebase=codebase)
    ghost = CodebaseFile.objects.create(
        codebase=codebase,
        generation=state.last + 1,
        path="ghost.py",
        size=1,
        mtime_ns=1,
        sha256="0" * 64,
        lines=1,
        is_ascii=True,
        content="needle ghost\n",
        folded="needle ghost\n",
    )
    CodebaseTrigram.objects.create(
        codebase=codebase,
        generation=state.last + 1,
        trigram=codebase_index._key(b"gho"),
        files=codebase_index._pack([ghost.pk]),
    )
    assert hits(tenant, "ghost") == []
    codebase_index.reindex(codebase)
    assert not CodebaseFile.objects.filter(pk=ghost.pk).exists()
    assert not CodebaseTrigram.objects.filter(codebase=codebase, generation__gt=state.last).exists()


def test_the_lease_lets_one_run_at_a_time(codebase: Codebase) -> None:
    CodebaseIndex.objects.create(codebase=codebase, running_since=timezone.now())
    assert codebase_index.reindex(codebase) == {"codebase": "demo", "status": "busy"}
    CodebaseIndex.objects.filter(codebase=codebase).update(running_since=timezone.now() - timedelta(hours=2))
    assert codebase_index.reindex(codebase)["status"] == "rebuilt"
    assert CodebaseIndex.objects.get(codebase=codebase).running_since is None


def test_queries_read_the_index_not_the_files(tenant: Tenant, codebase: Codebase, tree: Path) -> None:
    codebase_index.reindex(codebase)
    (tree / "a.py").unlink()
    (tree / "fresh.py").write_text("needle not indexed yet\n")
    assert hits(tenant, "needle") == [("a.py", 2, 1), ("pkg/c.py", 2, 1)]
    codebase_index.reindex(codebase)
    assert hits(tenant, "needle") == [("fresh.py", 1, 1), ("pkg/c.py", 2, 1)]


def test_changed_globs_fall_back_to_a_scan_until_reindexed(tenant: Tenant, codebase: Codebase, tree: Path) -> None:
    codebase_index.reindex(codebase)
    assert codebase_index.is_current(Codebase.objects.select_related("index").get(pk=codebase.pk))
    Codebase.objects.filter(pk=codebase.pk).update(include="*.txt")
    assert not codebase_index.is_current(Codebase.objects.select_related("index").get(pk=codebase.pk))
    assert hits(tenant, "needle") == []  # the tree as registered now, read directly
    assert search(tenant.pk, None, Query(text="delta")).scanned == ["demo"]
    codebase_index.reindex(Codebase.objects.get(pk=codebase.pk))
    assert search(tenant.pk, None, Query(text="delta")).scanned == []
    assert hits(tenant, "delta") == [("d.txt", 1, 1)]
    assert CodebaseFile.objects.filter(codebase=codebase).count() == 1


def test_missing_root_is_recorded(codebase: Codebase, tree: Path) -> None:
    Codebase.objects.filter(pk=codebase.pk).update(root=str(tree / "gone"))
    with pytest.raises(FileNotFoundError):
        codebase_index.reindex(Codebase.objects.get(pk=codebase.pk))
    state = CodebaseIndex.objects.get(codebase=codebase)
    assert "is not a directory" in state.last_error
    assert state.running_since is None


# ------------------------------------------------------------------------------------- queries


def test_case_insensitive_non_ascii_matches_survive_the_prefilter(
    tenant: Tenant, codebase: Codebase, tree: Path
) -> None:
    (tree / "units.txt").write_text("5 \u212aelvin, long \u017f, caf\u00c9\n")
    scanned = hits(tenant, "kelvin, long s, CAFé")
    codebase_index.reindex(codebase)
    assert hits(tenant, "kelvin, long s, CAFé") == scanned == [("units.txt", 1, 3)]
    assert hits(tenant, "kelvin", case_sensitive=True) == []


def test_regex_uses_literals_and_reports_columns(tenant: Tenant, codebase: Codebase) -> None:
    codebase_index.reindex(codebase)
    assert hits(tenant, r"needle = '(\w+)'", regex=True) == [("a.py", 2, 1)]
    assert hits(tenant, r"(?i)NEEDLE in \w$", regex=True, case_sensitive=True) == [("pkg/c.py", 2, 1)]
    assert hits(tenant, r"[bg]\w+a = \d", regex=True) == [("pkg/b.py", 1, 1), ("pkg/c.py", 1, 1)]


def test_regex_time_budget(tenant: Tenant, codebase: Codebase, tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tree / "evil.txt").write_text("a" * 40 + "b\n")
    codebase_index.reindex(codebase)
    monkeypatch.setattr(codebase_index, "REGEX_BUDGET_SECONDS", 0.2)
    started = time.monotonic()
    with pytest.raises(SearchError, match=r"took more than 0\.2 s"):
        search(tenant.pk, None, Query(text="(a|aa)+$", regex=True))  # exponential backtracking on the a's
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (Query(text="two\nlines"), "query must be a single line: it cannot contain a line break"),
        (Query(text="x\r"), "query must be a single line: it cannot contain a line break"),
        (Query(text="(", regex=True), "Invalid regular expression: missing ) at position 1"),
        (Query(text="x", path_glob="../x"), "path_glob must be relative"),
    ],
)
def test_bad_queries(tenant: Tenant, codebase: Codebase, query: Query, message: str) -> None:
    with pytest.raises(SearchError, match=re.escape(message)):
        search(tenant.pk, None, query)


def test_offset_pages_and_context(tenant: Tenant, codebase: Codebase, tree: Path) -> None:
    (tree / "many.txt").write_text("".join(f"row {n} x x\n" for n in range(1, 31)))
    codebase_index.reindex(codebase)
    everything = hits(tenant, "x", path_glob="many.txt", limit=200)
    assert len(everything) == 60
    pages = [hits(tenant, "x", path_glob="many.txt", limit=7, offset=offset) for offset in range(0, 60, 7)]
    assert [hit for page in pages for hit in page] == everything
    last = search(tenant.pk, None, Query(text="row 30 ", context=2))
    assert last.matches[0]["before"] == ["row 28 x x", "row 29 x x"]
    assert last.matches[0]["after"] == []
    first = search(tenant.pk, None, Query(text="row 1 ", context=5))
    assert first.matches[0]["before"] == []
    assert first.matches[0]["after"] == [f"row {n} x x" for n in range(2, 7)]


# ------------------------------------------------------------------------------------- command


def test_index_codebase_command(tenant: Tenant, codebase: Codebase) -> None:
    out = StringIO()
    call_command("index_codebase", "--tenant", tenant.slug, "demo", stdout=out)
    assert out.getvalue().startswith("index-co:demo: rebuilt in ")
    assert "4 files, 6 lines (4 added, 0 changed, 0 deleted, 0 skipped)" in out.getvalue()
    out = StringIO()
    call_command("index_codebase", stdout=out)
    assert "index-co:demo: unchanged" in out.getvalue()
    with pytest.raises(CommandError, match="No codebase named nope"):
        call_command("index_codebase", "nope")
    with pytest.raises(CommandError, match="No tenant 'missing'"):
        call_command("index_codebase", "--tenant", "missing")


def test_index_codebase_command_reports_a_missing_root(tenant: Tenant, tmp_path: Path) -> None:
    Codebase.objects.create(tenant=tenant, name="gone", root=str(tmp_path / "gone"))
    err = StringIO()
    with pytest.raises(CommandError, match="1 codebase"):
        call_command("index_codebase", "gone", stderr=err)
    assert "index-co:gone: codebase gone: root" in err.getvalue()
