"""docs.create through the real call path."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from authz.models import Tenant
from authz.principal import Principal
from tools import service
from tools.builtin.docs_create import OUTPUT_SCHEMA
from tools.models import Document

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_caches")]

WRITER = Principal(subject="auth0|alice", client_id="chatgpt", scopes=frozenset({"docs.write"}), expires_at=0)


@pytest.fixture
def tenant() -> Tenant:
    return Tenant.objects.create(slug="docs-co", name="Docs Co", resource_url="https://docs.example/mcp")


def call(tenant: Tenant, **arguments: Any) -> service.ToolCallResult:
    return service.call_tool(tenant, WRITER, "docs.create", arguments)


def test_creates_a_document_signed_by_the_caller(tenant: Tenant) -> None:
    result = call(
        tenant,
        title="Release  plan\n",
        body="Ship it on Friday.\n",
        summary="What ships when.",
        tags=["release", " ops ", "release"],
    )
    assert result.is_error is False
    assert result.structured is not None
    Draft202012Validator(OUTPUT_SCHEMA).validate(result.structured)
    doc = Document.objects.get()
    assert (doc.tenant, doc.title, doc.author, doc.client_id) == (tenant, "Release plan", "auth0|alice", "chatgpt")
    assert doc.tags == ["release", "ops"]
    assert doc.body == "Ship it on Friday.\n"
    expected = "# Release plan\n\nWhat ships when.\n\nTags: `release`, `ops`\n\nShip it on Friday.\n"
    assert result.structured == {
        "id": str(doc.uid),
        "uri": f"cortex://docs/{doc.uid}",
        "title": "Release plan",
        "markdown": expected,
    }
    assert uuid.UUID(result.structured["id"]).version == 4
    assert result.content == [{"type": "text", "text": f"Created document cortex://docs/{doc.uid}\n\n{expected}"}]


def test_minimal_document(tenant: Tenant) -> None:
    result = call(tenant, title="Abc", body="0123456789")
    assert result.structured is not None
    assert result.structured["markdown"] == "# Abc\n\n0123456789\n"
    assert Document.objects.get().summary == ""


def test_blank_title_after_trimming_is_refused(tenant: Tenant) -> None:
    result = call(tenant, title=" a \n ", body="0123456789")
    assert result.is_error is True
    assert result.content[0]["text"] == "title must have at least 3 non-blank characters"
    assert not Document.objects.exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"body": "0123456789"}, "Invalid arguments: 'title' is a required property"),
        ({"title": "Abc"}, "Invalid arguments: 'body' is a required property"),
        ({"title": "ab", "body": "0123456789"}, "Invalid arguments: title: 'ab' is too short"),
        ({"title": "t" * 121, "body": "0123456789"}, "Invalid arguments: title: 'ttttt"),
        ({"title": "Abc", "body": "short"}, "Invalid arguments: body: 'short' is too short"),
        ({"title": "Abc", "body": "b" * 100_001}, "...' is too long"),
        ({"title": "Abc", "body": "0123456789", "summary": "s" * 501}, "Invalid arguments: summary: 'sss"),
        ({"title": "Abc", "body": "0123456789", "tags": ["t"] * 21}, "Invalid arguments: tags: ['t', "),
        ({"title": "Abc", "body": "0123456789", "tags": [""]}, "Invalid arguments: tags[0]: '' should be non-empty"),
        ({"title": "Abc", "body": "0123456789", "tags": ["ok", "x" * 51]}, "Invalid arguments: tags[1]: 'xxxx"),
        (
            {"title": "Abc", "body": "0123456789", "tags": "a,b"},
            "Invalid arguments: tags: 'a,b' is not of type 'array'",
        ),
        ({"title": 123, "body": "0123456789"}, "Invalid arguments: title: 123 is not of type 'string'"),
        ({"title": "Abc", "body": "0123456789", "author": "x"}, "('author' was unexpected)"),
    ],
)
def test_invalid_arguments(tenant: Tenant, arguments: dict[str, Any], message: str) -> None:
    result = call(tenant, **arguments)
    assert result.is_error is True
    assert message in result.content[0]["text"]
    assert len(result.content[0]["text"]) < 200  # a 100 kB body is never echoed back
    assert not Document.objects.exists()
