"""Answers that are not one JSON document (an event stream, JSON lines), declared for `/openapi.json`.

Such a route returns its own `Response`, which FastAPI sends as it is; its `response_model` is the
type of one item of the stream, which puts that type's schema in the document's components, and
`responses=` says the body is a stream of those items (`itemSchema`, as FastAPI writes its own
streams).
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response
from pydantic import BaseModel

EVENT_STREAM = "text/event-stream"
JSON_LINES = "application/x-ndjson"


class JsonLines(Response):
    """One JSON document per line."""

    media_type = JSON_LINES


def stream_of(item: type[BaseModel], media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route whose 200 body is a stream of `item`s in `media_type`."""
    return {
        200: {
            "description": description,
            "content": {
                media_type: {
                    "schema": {"type": "string", "description": description},
                    "itemSchema": {"$ref": f"#/components/schemas/{item.__name__}"},
                }
            },
        }
    }
