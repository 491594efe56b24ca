"""JSON replies of every route group.

Example:
    >>> json_response({"a": float("nan")}, 400).body, json_response({}).status_code
    (b'{"a":NaN}', 200)
"""

from __future__ import annotations

import json

from starlette.responses import Response


def json_response(payload: object, status: int = 200) -> Response:
    """A JSON reply (compact; NaN kept as W&B's JSON does rather than failing the request)."""
    return Response(
        json.dumps(payload, separators=(",", ":")), status, media_type="application/json"
    )
