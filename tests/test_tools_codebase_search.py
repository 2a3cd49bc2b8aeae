"""codebase.search through the real call path: confinement, filters, order, context, bounds.

Every test runs twice: once answered by a scan of the tree (a codebase not indexed yet) and once from the
database index (each call first brings the tenant's indexes up to date, as the scheduled re-index would).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from authz.models import Tenant
from authz.principal import Principal
from tools import catalog, codebase_index, service
from tools.builtin.codebase_search import OUTPUT_SCHEMA
from tools.codebase_files import MAX_FILE_BYTES
from tools.models import Codebase

pytestmark = pytest.mark.django_db

SEARCHER = Principal(subject="alice", client_id="client-1", scopes=frozenset({"search.read"}), expires_at=0)


INDEXED = {"on": False}


@pytest.fixture(autouse=True, params=["scan", "index"])
def _mode(request: pytest.FixtureRequest) -> Iterator[None]:
    # Test transactions roll back, so tenant and codebase ids repeat between tests; per-process caches must not.
    catalog._cache.clear()
    service._descriptors.clear()
    codebase_index._maps.clear()
    INDEXED["on"] = request.param == "index"
    yield
    INDEXED["on"] = False


@pytest.fixture
def tenant() -> Tenant:
    return Tenant.objects.create(slug="search-co", name="Search Co", resource_url="https://search.example/mcp")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "secret.txt").write_text("needle outside the root\n")
    return secret


@pytest.fixture
def tree(tmp_path: Path, outside: Path) -> Path:
    root = tmp_path / "project"
    (root / "b").mkdir(parents=True)
    (root / "build").mkdir()
    (root / ".git").mkdir()
    (root / ".gitignore").write_text("# build output\nbuild/\n*.log\n")
    (root / "a.py").write_text("needle one\nfoo\nNeedle two needle\n")
    (root / "b" / "c.txt").write_text("x\ny needle\nz\n")
    (root / "build" / "out.py").write_text("needle in build\n")
    (root / "debug.log").write_text("needle in a log\n")
    (root / ".git" / "config").write_text("needle in git\n")
    (root / "bin.dat").write_bytes(b"needle\x00\x01\x02binary")
    (root / "big.txt").write_text("needle\n" + "x" * MAX_FILE_BYTES)
    (root / "crlf.txt").write_bytes(b"first\r\nsecond needle\r\n")
    os.symlink(outside / "secret.txt", root / "link_out.txt")
    os.symlink(outside, root / "dir_out")
    os.symlink(root / "b", root / "dir_in")
    return root


@pytest.fixture
def demo(tenant: Tenant, tree: Path) -> Codebase:
    return Codebase.objects.create(tenant=tenant, name="demo", root=os.path.realpath(tree))


def call(tenant: Tenant, **arguments: Any) -> service.ToolCallResult:
    if INDEXED["on"]:
        for codebase in Codebase.objects.filter(tenant=tenant):
            if os.path.isdir(codebase.root):
                codebase_index.reindex(codebase)
    return service.call_tool(tenant, SEARCHER, "codebase.search", arguments)


def where(result: service.ToolCallResult) -> list[tuple[str, str, int, int]]:
    assert result.is_error is False, result.content
    assert result.structured is not None
    return [(m["codebase"], m["path"], m["line"], m["column"]) for m in result.structured["matches"]]


def test_finds_matches_in_order_and_never_outside_the_root(tenant: Tenant, demo: Codebase) -> None:
    result = call(tenant, query="needle")
    assert where(result) == [
        ("demo", "a.py", 1, 1),
        ("demo", "a.py", 3, 1),
        ("demo", "a.py", 3, 12),
        ("demo", "b/c.txt", 2, 3),
        ("demo", "crlf.txt", 2, 8),
    ]
    assert result.structured is not None
    assert result.structured["truncated"] is False
    Draft202012Validator(OUTPUT_SCHEMA).validate(result.structured)
    text = result.content[0]["text"]
    assert "demo:a.py:1:1: needle one" in text
    assert "demo:crlf.txt:2:8: second needle" in text  # the \r is not part of the line
    assert text.endswith("5 matches")
    for skipped in ("outside", "build", "log", "git", "binary"):
        assert skipped not in text


def test_symlinked_file_inside_the_root_is_read(tenant: Tenant, demo: Codebase, tree: Path) -> None:
    os.symlink(tree / "a.py", tree / "alias.py")
    assert ("demo", "alias.py", 1, 1) in where(call(tenant, query="needle one"))


def test_a_root_that_is_itself_a_symlink_is_resolved(tenant: Tenant, tree: Path, tmp_path: Path) -> None:
    os.symlink(tree, tmp_path / "via-link")
    Codebase.objects.create(tenant=tenant, name="linked", root=str(tmp_path / "via-link"))
    assert where(call(tenant, query="y needle")) == [("linked", "b/c.txt", 2, 1)]


def test_case_sensitive(tenant: Tenant, demo: Codebase) -> None:
    assert where(call(tenant, query="Needle", case_sensitive=True)) == [("demo", "a.py", 3, 1)]


def test_regex(tenant: Tenant, demo: Codebase) -> None:
    assert where(call(tenant, query=r"^\w needle$", regex=True)) == [("demo", "b/c.txt", 2, 1)]
    # Without regex the same text is literal and matches nothing.
    assert where(call(tenant, query=r"^\w needle$")) == []


def test_empty_regex_matches_are_not_reported(tenant: Tenant, demo: Codebase) -> None:
    assert where(call(tenant, query="z*", regex=True, path_glob="b/*")) == [("demo", "b/c.txt", 3, 1)]


def test_bad_regex_is_a_tool_error(tenant: Tenant, demo: Codebase) -> None:
    result = call(tenant, query="needle(", regex=True)
    assert result.is_error is True
    assert result.content[0]["text"] == "Invalid regular expression: missing ) at position 7"


def test_unknown_codebase_is_a_tool_error(tenant: Tenant, demo: Codebase) -> None:
    result = call(tenant, query="needle", codebase="nope")
    assert result.is_error is True
    assert result.content[0]["text"] == "Unknown codebase: nope"


def test_another_tenants_codebase_is_invisible(tenant: Tenant, demo: Codebase) -> None:
    other = Tenant.objects.create(slug="other-co", name="Other", resource_url="https://other.example/mcp")
    assert where(service.call_tool(other, SEARCHER, "codebase.search", {"query": "needle"})) == []
    result = service.call_tool(other, SEARCHER, "codebase.search", {"query": "needle", "codebase": "demo"})
    assert result.content[0]["text"] == "Unknown codebase: demo"


@pytest.mark.parametrize(
    ("glob", "expected"),
    [
        ("*.txt", [("demo", "b/c.txt", 2, 3), ("demo", "crlf.txt", 2, 8)]),
        ("b/*", [("demo", "b/c.txt", 2, 3)]),
        ("a.py", [("demo", "a.py", 1, 1), ("demo", "a.py", 3, 1), ("demo", "a.py", 3, 12)]),
        ("*.log", []),  # .gitignore wins over the caller's glob
        ("link_out.txt", []),
        ("dir_out/*", []),
    ],
)
def test_path_glob_filters(
    tenant: Tenant, demo: Codebase, glob: str, expected: list[tuple[str, str, int, int]]
) -> None:
    assert where(call(tenant, query="needle", path_glob=glob)) == expected


@pytest.mark.parametrize("glob", ["../*", "../outside/secret.txt", "b/../../outside/*", "/etc/*", "..", "\\etc\\*"])
def test_path_glob_cannot_leave_the_root(tenant: Tenant, demo: Codebase, glob: str) -> None:
    result = call(tenant, query="needle", path_glob=glob)
    assert result.is_error is True
    assert result.content[0]["text"] == "path_glob must be relative to the codebase root and must not contain '..'"


def test_include_and_exclude_globs(tenant: Tenant, tree: Path) -> None:
    Codebase.objects.create(tenant=tenant, name="only-py", root=str(tree), include="*.py\n")
    Codebase.objects.create(tenant=tenant, name="no-b", root=str(tree), exclude="b/\n# comment\ncrlf.txt")
    assert where(call(tenant, query="needle", codebase="only-py")) == [
        ("only-py", "a.py", 1, 1),
        ("only-py", "a.py", 3, 1),
        ("only-py", "a.py", 3, 12),
    ]
    assert [path for _, path, _, _ in where(call(tenant, query="needle", codebase="no-b"))] == ["a.py"] * 3


def test_gitignore_negation_and_anchors(tenant: Tenant, tree: Path) -> None:
    (tree / ".gitignore").write_text("*.log\n!keep.log\n/a.py\n")
    (tree / "keep.log").write_text("needle kept\n")
    (tree / "b" / "a.py").write_text("needle nested\n")
    Codebase.objects.create(tenant=tenant, name="demo", root=str(tree))
    paths = {path for _, path, _, _ in where(call(tenant, query="needle"))}
    assert paths == {"keep.log", "b/a.py", "b/c.txt", "crlf.txt", "build/out.py"}


def test_several_codebases_in_name_order(tenant: Tenant, tree: Path) -> None:
    Codebase.objects.create(tenant=tenant, name="zeta", root=str(tree))
    Codebase.objects.create(tenant=tenant, name="alpha", root=str(tree / "b"))
    assert where(call(tenant, query="y needle")) == [("alpha", "c.txt", 2, 1), ("zeta", "b/c.txt", 2, 1)]


def test_context_lines(tenant: Tenant, demo: Codebase) -> None:
    result = call(tenant, query="y needle", context=2)
    assert result.structured is not None
    [match] = result.structured["matches"]
    assert match["before"] == ["x"]
    assert match["after"] == ["z"]
    assert result.content[0]["text"].splitlines()[:4] == [
        "demo:b/c.txt-1- x",
        "demo:b/c.txt:2:1: y needle",
        "demo:b/c.txt-3- z",
        "--",
    ]


def test_limit_truncates_deterministically(tenant: Tenant, demo: Codebase) -> None:
    result = call(tenant, query="needle", limit=2)
    assert where(result) == [("demo", "a.py", 1, 1), ("demo", "a.py", 3, 1)]
    assert result.structured is not None
    assert result.structured["truncated"] is True
    exact = call(tenant, query="needle", limit=5)
    assert exact.structured is not None
    assert exact.structured["truncated"] is False


def test_long_lines_are_cut(tenant: Tenant, tree: Path) -> None:
    (tree / "wide.txt").write_text("needle" + "w" * 5000 + "\n")
    Codebase.objects.create(tenant=tenant, name="demo", root=str(tree))
    result = call(tenant, query="needle", path_glob="wide.txt")
    assert result.structured is not None
    assert len(result.structured["matches"][0]["text"]) == 301


def test_missing_root(tenant: Tenant, demo: Codebase, tmp_path: Path) -> None:
    Codebase.objects.create(tenant=tenant, name="gone", root=str(tmp_path / "gone"))
    assert len(where(call(tenant, query="needle"))) == 5  # searching everything skips it
    result = call(tenant, query="needle", codebase="gone")
    assert result.is_error is True
    assert "is not a directory" in result.content[0]["text"]


def test_no_codebases(tenant: Tenant) -> None:
    result = call(tenant, query="needle")
    assert result.content[0]["text"] == "No matches."
    assert result.structured == {"matches": [], "truncated": False}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "Invalid arguments: 'query' is a required property"),
        ({"query": ""}, "Invalid arguments: query: '' should be non-empty"),
        (
            {"query": "q" * 501},
            "Invalid arguments: query: 'qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq...' is too long",
        ),
        ({"query": "q", "regex": "yes"}, "Invalid arguments: regex: 'yes' is not of type 'boolean'"),
        ({"query": "q", "case_sensitive": 1}, "Invalid arguments: case_sensitive: 1 is not of type 'boolean'"),
        ({"query": "q", "context": 6}, "Invalid arguments: context: 6 is greater than the maximum of 5"),
        ({"query": "q", "context": -1}, "Invalid arguments: context: -1 is less than the minimum of 0"),
        ({"query": "q", "limit": 0}, "Invalid arguments: limit: 0 is less than the minimum of 1"),
        ({"query": "q", "limit": 201}, "Invalid arguments: limit: 201 is greater than the maximum of 200"),
        ({"query": "q", "limit": 2.5}, "Invalid arguments: limit: 2.5 is not of type 'integer'"),
        ({"query": "q", "path_glob": "p" * 201}, "is too long"),
        ({"query": "q", "codebase": ""}, "Invalid arguments: codebase: '' should be non-empty"),
        ({"query": "q", "path": "x"}, "Additional properties are not allowed ('path' was unexpected)"),
    ],
)
def test_invalid_arguments(tenant: Tenant, demo: Codebase, arguments: dict[str, Any], message: str) -> None:
    result = call(tenant, **arguments)
    assert result.is_error is True
    assert result.structured is None
    assert message in result.content[0]["text"]
