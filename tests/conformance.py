"""The official MCP conformance suite (npm ``@modelcontextprotocol/conformance``, pinned in interop/) against the
server's conformance profile. ``make conformance`` runs ``python -m tests.conformance``; ``tests/test_conformance.py``
runs the same thing under pytest.

The profile is the production command (``tests.live.LiveServer``: granian, fresh database) with
``CORTEX_PROFILE=conformance`` (the suite's fixture tools, ``tools/fixtures/conformance``), ``AUTH_MODE=none``
and ``DEBUG=1``, and the default tenant's rate limit turned off (the suite sends ~80 requests in 3 s from one
address). The suite runs its ``active`` scenarios for spec version 2025-11-25, which includes those of
2025-06-18 (the filter is cumulative), plus ``json-schema-2020-12`` (still in its ``pending`` suite, but a
tools scenario our fixtures cover). Scenarios that need features the product does not have are listed, each
with its reason, in ``interop/conformance-baseline.yml``.

Outcome per scenario (the suite's own rule: a FAILURE or WARNING check fails a scenario):
``passed``; ``baselined`` (failed, and listed in the baseline); ``failed`` (failed, not listed: a regression);
``stale`` (passed but still listed: remove it from the baseline). Success means no ``failed`` and no ``stale``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.live import ROOT, LiveServer

INTEROP = ROOT / "interop"
SUITE = INTEROP / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
BASELINE = INTEROP / "conformance-baseline.yml"
SPEC_VERSION = "2025-11-25"
EXTRA_SCENARIOS = ("json-schema-2020-12",)
PROFILE_ENV = {"CORTEX_PROFILE": "conformance", "AUTH_MODE": "none", "DEBUG": "1"}
RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d\d-\d\dT[\d-]+Z$")
ENTRY = re.compile(r"^\s*-\s*(?P<name>[\w./-]+)\s*(?:#\s*(?P<reason>.*\S))?\s*$")

UNLIMITED = """
from authz.models import Tenant
if any(f.name == "rate_limit_per_minute" for f in Tenant._meta.get_fields()):
    Tenant.objects.update(rate_limit_per_minute=0)
"""


@dataclass
class Report:
    passed: list[str] = field(default_factory=list)
    baselined: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    checks: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    output: str = ""

    @property
    def ok(self) -> bool:
        return not self.failed and not self.stale

    def summary(self) -> str:
        lines = [
            f"conformance ({SPEC_VERSION} and earlier, active suite + {', '.join(EXTRA_SCENARIOS)}): "
            f"{len(self.passed)} passed, {len(self.failed)} failed, {len(self.baselined)} baselined, "
            f"{len(self.stale)} stale"
        ]
        for label, names in (("failed", self.failed), ("stale baseline entry", self.stale)):
            for name in names:
                lines.append(f"  {label}: {name}")
                for check in self.checks.get(name, []):
                    if check.get("status") in ("FAILURE", "WARNING"):
                        lines.append(f"    {check.get('status')} {check.get('id')}: {check.get('errorMessage')}")
        return "\n".join(lines)


def baseline(path: Path = BASELINE) -> dict[str, str]:
    """``{scenario: reason}`` from the baseline's ``server:`` list (each entry carries its reason as a comment)."""
    entries: dict[str, str] = {}
    section = None
    for line in path.read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            section = line.split(":", 1)[0].strip()
            continue
        match = ENTRY.match(line)
        if section == "server" and match:
            entries[match["name"]] = match["reason"] or ""
    return entries


def node_command(*args: str) -> list[str]:
    """The suite's CLI under Node, with the Node 20 shim (interop/node20-compat.mjs) loaded first."""
    node = shutil.which("node") or "node"
    return [node, "--import", str(INTEROP / "node20-compat.mjs"), str(SUITE), *args]


def run_suite(url: str, outdir: Path) -> str:
    """Run the scenarios against ``url``; results land in ``outdir``. Returns the suite's console output."""
    output = []
    runs = [["--suite", "active", "--spec-version", SPEC_VERSION, "--expected-failures", str(BASELINE)]]
    runs += [["--scenario", name] for name in EXTRA_SCENARIOS]
    for extra in runs:
        done = subprocess.run(
            node_command("server", "--url", url, "-o", str(outdir), *extra),
            cwd=INTEROP,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "NO_COLOR": "1"},
        )
        output.append(done.stdout + done.stderr)
    return "\n".join(output)


def collect(outdir: Path, expected: dict[str, str]) -> Report:
    report = Report()
    for checks_file in sorted(outdir.glob("*/checks.json")):
        match = RESULT_DIR.match(checks_file.parent.name)
        if not match:
            continue
        name = match["scenario"]
        checks = json.loads(checks_file.read_text())
        report.checks[name] = checks
        failing = any(check.get("status") in ("FAILURE", "WARNING") for check in checks)
        if failing:
            (report.baselined if name in expected else report.failed).append(name)
        else:
            (report.stale if name in expected else report.passed).append(name)
    return report


def run(workdir: Path) -> Report:
    """Start the conformance profile, run the suite against it, stop it; the report of what happened."""
    if not SUITE.exists():
        raise RuntimeError(f"{SUITE} is missing: run `make interop-install` (npm ci in interop/)")
    server = LiveServer(workdir, PROFILE_ENV)
    server.manage("migrate", "--no-input")
    server.manage("shell", "-c", UNLIMITED)
    server.start()
    try:
        outdir = workdir / "results"
        output = run_suite(f"{server.url}/mcp", outdir)
        report = collect(outdir, baseline())
        report.output = output
        return report
    finally:
        server.stop()


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cortex.settings")
    with tempfile.TemporaryDirectory(prefix="cortex-conformance-") as tmp:
        report = run(Path(tmp))
    if "-v" in sys.argv[1:]:
        print(report.output)
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
