"""Literal codebase.search finds exactly the lines ``rg -F -n`` finds, on a real tree none of us wrote.

The tree: fourteen packages of the installed CPython standard library (``*.py``; a few hundred files, tens of
thousands of lines), registered as one codebase and indexed once. Each query goes through the tool call path
(``tools.service.call_tool``) and is paged to the end (``limit`` 200, ``offset`` stepping by 200 until
``truncated`` is false), so the comparison is of complete results: the set of (path, line) pairs of every
match against every line ripgrep prints. ripgrep runs with ``--no-ignore`` (the tree has no ignore files;
the test checks that) and ``--hidden``, on the same packages with the same 1 MiB file-size limit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from typing import Any

import pytest

from authz.models import Tenant
from authz.principal import Principal
from tools import codebase_index, service
from tools.models import Codebase

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_caches")]

STDLIB = sysconfig.get_paths()["stdlib"]
PACKAGES = [
    "asyncio", "collections", "concurrent", "email", "http", "importlib", "json",
    "logging", "sqlite3", "tomllib", "unittest", "urllib", "wsgiref", "xml",
]  # fmt: skip
RG = ["rg", "--no-config", "--no-ignore", "--hidden", "--max-filesize", "1M", "-g", "*.py", "-g", "!__pycache__/"]
SEARCHER = Principal(subject="rg", client_id="rg-test", scopes=frozenset({"search.read"}), expires_at=0)

# (query, case_sensitive). Several match nothing, several match hundreds or thousands of lines.
QUERIES: list[tuple[str, bool]] = [
    ("self.assert", True),
    ("return", True),
    ("def ", True),
    ("import", True),
    ("None", True),
    ("self._loop", True),
    ("except", True),
    ("if not", True),
    ("lambda", True),
    ("raise ", True),
    ("@", True),
    ("==", True),
    ("json.dumps(", True),
    ("[0]", True),
    ("    return None", True),
    ("a.b", True),
    ("__init__", True),
    ("HTTPConnection", True),
    ("Content-Type", True),
    ("TODO", True),
    ("xyzzy_never_there", True),
    ("qwertyuiopasdf", True),
    ("zzzzzz", True),
    ("µs nowhere ∑", True),
    ("\t", True),
    ('"""', True),
    ("content-type", False),
    ("assertequal", False),
    ("XYZZY_NEVER_THERE", False),
]


def _ripgrep(query: str, case_sensitive: bool) -> set[tuple[str, int]]:
    command = [*RG, "-F", "-n", "--null", "--no-heading", "--with-filename"]
    command += ([] if case_sensitive else ["-i"]) + ["--", query, *PACKAGES]
    done = subprocess.run(command, cwd=STDLIB, capture_output=True, check=False)
    assert done.returncode in (0, 1), done.stderr  # 1: no match
    found = set()
    for raw in done.stdout.splitlines():
        path, _, rest = raw.partition(b"\0")
        found.add((os.fsdecode(path), int(rest.split(b":", 1)[0])))
    return found


def _ours(tenant: Tenant, query: str, case_sensitive: bool) -> tuple[set[tuple[str, int]], int]:
    found: set[tuple[str, int]] = set()
    offset = 0
    while True:
        arguments: dict[str, Any] = {"query": query, "case_sensitive": case_sensitive, "limit": 200, "offset": offset}
        result = service.call_tool(tenant, SEARCHER, "codebase.search", arguments)
        assert result.is_error is False, result.content
        assert result.structured is not None
        found.update((match["path"], match["line"]) for match in result.structured["matches"])
        offset += 200
        if not result.structured["truncated"]:
            return found, offset // 200
        assert offset <= 10_000, f"{query!r}: too many matches for this test's paging"


@pytest.mark.skipif(shutil.which("rg") is None, reason="ripgrep (rg) is not installed: apt-get install ripgrep")
def test_literal_matches_equal_ripgrep() -> None:
    for package in PACKAGES:
        for dirpath, _, filenames in os.walk(os.path.join(STDLIB, package)):
            assert not {".gitignore", ".ignore", ".rgignore"} & set(filenames), dirpath
    tenant = Tenant.objects.create(slug="rg-co", name="RG", resource_url="https://rg.example/mcp")
    include = "\n".join(f"/{package}/**/*.py" for package in PACKAGES)
    codebase = Codebase.objects.create(
        tenant=tenant, name="stdlib", root=STDLIB, include=include, exclude="__pycache__/"
    )
    report = codebase_index.reindex(codebase)
    assert report["status"] == "rebuilt"
    assert report["files"] > 150
    listed = subprocess.run([*RG, "--files", *PACKAGES], cwd=STDLIB, capture_output=True, text=True, check=True)
    indexed = set(codebase.indexed_files.values_list("path", flat=True))
    assert indexed == set(listed.stdout.splitlines())  # the same files, before comparing lines

    sizes = []
    page_counts = []
    mismatches = []
    for query, case_sensitive in QUERIES:
        expected = _ripgrep(query, case_sensitive)
        got, pages = _ours(tenant, query, case_sensitive)
        sizes.append(len(expected))
        page_counts.append(pages)
        if got != expected:
            mismatches.append(
                f"{query!r} (case_sensitive={case_sensitive}): ripgrep {len(expected)} lines, ours {len(got)}; "
                f"only rg: {sorted(expected - got)[:3]}, only ours: {sorted(got - expected)[:3]}"
            )
    assert mismatches == []
    assert len(QUERIES) >= 20
    assert sum(1 for size in sizes if size == 0) >= 4
    assert sum(1 for size in sizes if size >= 200) >= 8
    assert max(page_counts) >= 20  # results of thousands of matches were compared page by page
