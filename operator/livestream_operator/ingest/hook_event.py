"""The hook contract: what MediaMTX's wrapper (mtx_hook.py) POSTs to the receiver."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..api.v1alpha1 import InstanceName, camel

# A hook event is one flat object; anything nested deeper is refused before it
# is parsed, so no body can exhaust the parser's stack.
MAX_DEPTH = 32
# JSON strings (an unterminated one runs to the end, which keeps the scan linear)
# and brackets: what counting the nesting depth needs to see.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)
_MAX_FIELD_NAME = 64


class HookKind(StrEnum):
    """What MediaMTX reported: a path hook (runOnAvailable, runOnUnavailable), or
    the early signal: the auth call of a publish it is about to analyse."""

    READY = "ready"
    NOT_READY = "not-ready"
    CONNECTING = "connecting"


class HookEvent(BaseModel):
    """The body MediaMTX's hook wrapper POSTs: {path, query, sourceType, sourceId,
    instance}.

    Unknown fields are ignored so that a newer wrapper can add some. The fields
    are strict strings: a number, null or list is refused, never coerced.
    """

    model_config = ConfigDict(
        alias_generator=camel, populate_by_name=True, extra="ignore", frozen=True, strict=True
    )

    path: str = Field(min_length=1, max_length=1024)
    query: str = Field(default="", max_length=8192)
    source_type: str = Field(default="", max_length=64)
    source_id: str = Field(default="", max_length=256)
    # The MediaMTX instance that ran the hook (its LSO_MEDIAMTX_INSTANCE); empty
    # from a wrapper or a resync that does not say.
    instance: InstanceName | Literal[""] = ""


class BodyError(Exception):
    """A body that cannot be a hook event: which field, why, and the HTTP status.

    400 for a body that is not RFC 8259 JSON (not UTF-8, a syntax error, NaN,
    nesting deeper than MAX_DEPTH); 422 for JSON that is ambiguous or out of
    range (a duplicate key, a number no JSON peer can represent).
    """

    def __init__(self, status: int, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.status = status
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class _BadNumber:
    """Stands in for a number while parsing; reported with its field afterwards."""

    status: int
    reason: str


def _constant(literal: str) -> _BadNumber:
    return _BadNumber(400, f"{literal} is not a JSON number")


def _float(text: str) -> float | _BadNumber:
    value = float(text)
    return value if math.isfinite(value) else _BadNumber(422, "number out of range")


def _int(text: str) -> int | _BadNumber:
    try:
        return int(text)
    except ValueError:  # longer than sys.get_int_max_str_digits()
        return _BadNumber(422, "integer has too many digits")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise BodyError(422, key[:_MAX_FIELD_NAME], "duplicate key")
        obj[key] = value
    return obj


def _depth(text: str) -> int:
    """How deeply the body nests, counted up to one past MAX_DEPTH."""
    depth = deepest = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                break
        elif token in ("]", "}"):
            depth -= 1
    return deepest


def _bad_number(value: Any, where: str) -> tuple[str, _BadNumber] | None:
    """The first number that was refused while parsing, with its dotted field name."""
    if isinstance(value, _BadNumber):
        return where or "body", value
    items: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = [(str(i), item) for i, item in enumerate(value)]
    for key, item in items:
        found = _bad_number(item, f"{where}.{key}" if where else key[:_MAX_FIELD_NAME])
        if found is not None:
            return found
    return None


def load_json(raw: bytes) -> Any:
    """Parse a body as strict RFC 8259 JSON, or raise BodyError saying why not.

    UTF-8 only (no byte order mark), no NaN or Infinity, no duplicate keys, no
    numbers out of a double's (or Python's integer parsing) range, at most
    MAX_DEPTH levels of nesting.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(400, "body", f"not UTF-8: invalid byte at offset {exc.start}") from None
    if text.startswith("\ufeff"):
        raise BodyError(400, "body", "starts with a byte order mark; send UTF-8 without one")
    if not text.strip(" \t\r\n"):
        raise BodyError(
            400, "body", "empty; send a JSON object {path, query, sourceType, sourceId}"
        )
    if _depth(text) > MAX_DEPTH:
        raise BodyError(400, "body", f"nested deeper than {MAX_DEPTH} levels")
    try:
        data = json.loads(
            text,
            object_pairs_hook=_object,
            parse_constant=_constant,
            parse_float=_float,
            parse_int=_int,
        )
    except json.JSONDecodeError as exc:
        raise BodyError(400, "body", f"not JSON: {exc.msg} at offset {exc.pos}") from None
    except RecursionError:  # not reachable past the depth check; kept as a guard
        raise BodyError(400, "body", "nested too deeply") from None
    found = _bad_number(data, "")
    if found is not None:
        where, bad = found
        raise BodyError(bad.status, where, bad.reason)
    return data
