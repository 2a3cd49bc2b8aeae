"""Who a verified token speaks for."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Principal:
    subject: str
    client_id: str
    scopes: frozenset[str]
    expires_at: int
    claims: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def missing(self, required: list[str]) -> list[str]:
        """The scopes in ``required`` this principal lacks, in ``required``'s order."""
        return [scope for scope in required if scope not in self.scopes]
