"""Pieces of the OpenAPI document's operations that every route list builds from: query and
path parameters, ids as devices send them, a limit, a JSON answer."""

from __future__ import annotations

from typing import Any

from app.api.openapi.schemas import Schema, ref


def query(name: str, schema: Schema, description: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description, **extra}


def path(name: str, description: str, schema: Schema) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


def entity_id(name: str, description: str, max_length: int | None = None) -> dict[str, Any]:
    """An id as devices send it (``app.api.routing.IdConverter``): any text, percent-encoded in the URL."""
    schema: Schema = {"type": "string", "minLength": 1}
    if max_length is not None:  # a longer one is refused (404: nothing has it); else simply matches nothing
        schema["maxLength"] = max_length
    return path(name, f"{description}: any text, percent-encoded (a slash as %2F, a newline as %0A)", schema)


def limit(default: int, low: int, high: int | None, what: str) -> dict[str, Any]:
    schema: Schema = {"type": "integer", "minimum": low, "default": default}
    if high is not None:
        schema["maximum"] = high
    return query("limit", schema, f"at most this many {what}")


def json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref(schema)}}}
