"""Module-level vars the snapshot tests register by import path (importable by workers)."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any

from ctxprop_reference.vars import ContextVar as ReferenceContextVar

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
TENANT: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="no-tenant")
AUTH_TOKEN: contextvars.ContextVar[str] = contextvars.ContextVar("auth_token")
PAYLOAD: contextvars.ContextVar[Any] = contextvars.ContextVar("payload")
UNREGISTERED: contextvars.ContextVar[str] = contextvars.ContextVar("scope", default="clean")
USER = ReferenceContextVar("user", namespace="snapshot-tests")


@dataclass(frozen=True)
class Money:
    """A user type carried through JsonCodec.register_dataclass."""

    amount: int
    currency: str
    tags: tuple[str, ...] = ()


#: what a hostile pickle payload would do if it ever ran: it must stay empty
PAYLOAD_RAN: list[str] = []


def payload_side_effect(note: str) -> None:
    PAYLOAD_RAN.append(note)


class Hostile:
    """Unpickling this calls payload_side_effect: code chosen by the payload."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (payload_side_effect, ("the payload ran",))
