"""The official MCP conformance suite against the conformance profile (tests/conformance.py), and that profile's
pieces in process: the fixture tools' content blocks, and that nothing of the profile leaks into a normal run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from authz.models import Tenant
from tests import conformance
from tools import registry, service
from tools.fixtures.conformance import MODULES
from tools.fixtures.conformance.common import AUDIO_BLOCK, IMAGE_BLOCK
from tools.sync import sync_tenant

# Every scenario of the suite's active set (2025-06-18, 2025-11-25) about lifecycle, tools and DNS rebinding.
MUST_PASS = {
    "server-initialize",
    "ping",
    "tools-list",
    "tools-call-simple-text",
    "tools-call-image",
    "tools-call-audio",
    "tools-call-embedded-resource",
    "tools-call-mixed-content",
    "tools-call-error",
    "dns-rebinding-protection",
    "json-schema-2020-12",
}
# What a baseline entry may be about: features the product does not have.
BASELINE_REASONS = ("server-to-client", "no resources", "no prompts", "no completions", "no logging", "stateless")


@pytest.mark.e2e
def test_conformance_suite_passes_everything_but_the_baseline(tmp_path: Path) -> None:
    report = conformance.run(tmp_path)
    assert report.ok, report.summary() + "\n" + report.output[-4000:]
    assert set(report.passed) == MUST_PASS, report.summary()
    assert set(report.baselined) == set(conformance.baseline()), report.summary()


def test_every_baseline_entry_gives_a_reason_about_a_missing_feature() -> None:
    entries = conformance.baseline()
    assert len(entries) == 20
    assert not MUST_PASS & set(entries)
    for name, reason in entries.items():
        assert any(word in reason for word in BASELINE_REASONS), (name, reason)


def test_baseline_parser_reads_names_and_reasons(tmp_path: Path) -> None:
    path = tmp_path / "baseline.yml"
    path.write_text("# header\nclient:\n  - sse-retry  # not ours\nserver:\n  - ping  # why\n  - tools-list\n")
    assert conformance.baseline(path) == {"ping": "why", "tools-list": ""}


@pytest.fixture
def conformance_tools(settings: SettingsWrapper) -> Iterator[None]:
    settings.CORTEX_TOOL_MODULES = [*settings.CORTEX_TOOL_MODULES, *MODULES]
    registry.registry.cache_clear()
    yield
    registry.registry.cache_clear()


@pytest.fixture
def open_tenant(make_tenant: Callable[..., Tenant], conformance_tools: None) -> Tenant:
    """The profile's tenant: ``AUTH_MODE=none`` (DEBUG is on in ``make_tenant``), with the fixture tools' rows."""
    tenant = make_tenant(auth_mode=Tenant.AuthMode.NONE)
    sync_tenant(tenant)
    tenant.refresh_from_db()
    return tenant


def test_fixture_tools_are_not_registered_outside_the_profile() -> None:
    registry.registry.cache_clear()
    names = set(registry.registry())
    assert not names & {"test_simple_text", "test_image_content", "json_schema_2020_12_tool"}


@pytest.mark.parametrize(
    ("tool", "types"),
    [
        ("test_simple_text", ["text"]),
        ("test_image_content", ["text", "image"]),
        ("test_audio_content", ["text", "audio"]),
        ("test_embedded_resource", ["text", "resource"]),
        ("test_multiple_content_types", ["text", "image", "resource"]),
    ],
)
def test_tool_output_content_blocks_follow_the_text(open_tenant: Tenant, tool: str, types: list[str]) -> None:
    outcome = service.call_tool(open_tenant, None, tool, {})
    assert outcome.is_error is False
    assert [block["type"] for block in outcome.content] == types
    if "image" in types:
        assert IMAGE_BLOCK in outcome.content
    if "audio" in types:
        assert AUDIO_BLOCK in outcome.content


def test_error_fixture_is_a_tool_error(open_tenant: Tenant) -> None:
    outcome = service.call_tool(open_tenant, None, "test_error_handling", {})
    assert outcome.is_error is True
    assert outcome.content == [{"type": "text", "text": "This tool intentionally returns an error for testing"}]
