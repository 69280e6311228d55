"""Static assets served by the web service itself (no CDN), with a content hash in their
URL so browsers may keep them for a year and still get a changed file at once."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from starlette.responses import Response
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"


@lru_cache(maxsize=64)
def static_url(name: str) -> str:
    """`/static/app.css?v=<hash>`: the file's URL, changing whenever its bytes do."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


class CachedStaticFiles(StaticFiles):
    """StaticFiles whose answers may be kept for a year: their URLs carry the content hash."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response
