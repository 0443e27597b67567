"""Serves the OpenAPI document and two pages that render it, with every asset served locally.

Routes (they are the paths of Operyn's own API docs, which ingestd imitates):

- `GET /openapi.json`: the document, serialized once at startup.
- `GET /api`: Swagger UI.
- `GET /reference`: Scalar's API reference.
- `GET /_ingestd/docs/<asset>`: the vendored assets listed in `gateway/static/assets.json`. The
  prefix cannot collide with a vendor's path, since no vendor API starts with `/_ingestd`.

The pages load nothing from another origin: the assets are copies (`tools/assets.py`), Scalar's
default web fonts, telemetry and AI agent are switched off, Swagger UI's online validator badge
too, and a Content-Security-Policy makes the browser refuse anything else. Asset URLs carry the
file's digest (`?v=…`), so they are cached for a year; the document and the pages are revalidated
on every load (`no-cache` with an ETag).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

STATIC = Path(__file__).resolve().parent / "static"
ASSET_PREFIX = "/_ingestd/docs/"
_CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
}
_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class _Asset:
    path: Path
    content_type: str
    version: str


def _assets(static: Path) -> dict[str, _Asset]:
    manifest: dict[str, dict[str, str]] = json.loads((static / "assets.json").read_text())
    return {
        name: _Asset(static / name, _CONTENT_TYPES[Path(name).suffix], entry["sha256"][:16])
        for name, entry in manifest.items()
    }


def add_docs_routes(app: web.Application, document: dict[str, Any]) -> None:
    """Registers the docs routes on `app`. Call it before any catch-all route, which would
    otherwise answer these paths first.

    Raises:
        FileNotFoundError: `gateway/static` lacks its manifest or an asset (`make assets`).
    """
    assets = _assets(STATIC)
    for asset in assets.values():
        if not asset.path.is_file():
            raise FileNotFoundError(f"{asset.path} is missing: run `make assets`")

    def url(name: str) -> str:
        # Relative, so the pages also work behind a proxy that mounts ingestd under a prefix.
        return f"{ASSET_PREFIX[1:]}{name}?v={assets[name].version}"

    title = str(document.get("info", {}).get("title", "API"))
    app.router.add_get("/openapi.json", _fixed(orjson.dumps(document), "application/json", {}))
    app.router.add_get("/api", _page(_swagger_page(title, url)))
    app.router.add_get("/reference", _page(_scalar_page(title, url)))

    async def serve_asset(request: web.Request) -> web.StreamResponse:
        found = assets.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        fresh = request.query.get("v") == found.version
        headers = {
            "Content-Type": found.content_type,
            "Cache-Control": _IMMUTABLE if fresh else _REVALIDATE,
            "X-Content-Type-Options": "nosniff",
        }
        return web.FileResponse(found.path, headers=headers)

    app.router.add_get(ASSET_PREFIX + "{name:.+}", serve_asset)


def _fixed(body: bytes, content_type: str, headers: Mapping[str, str]) -> Handler:
    """A handler answering `body`, with an ETag so a revalidation costs a 304."""
    etag = hashlib.sha256(body).hexdigest()[:32]

    async def handle(request: web.Request) -> web.StreamResponse:
        fixed = {"Cache-Control": _REVALIDATE, "X-Content-Type-Options": "nosniff", **headers}
        if any(tag.value == etag for tag in request.if_none_match or ()):
            response = web.Response(status=304, headers=fixed)
        else:
            response = web.Response(body=body, headers={"Content-Type": content_type, **fixed})
        response.etag = etag
        return response

    return handle


@dataclass(frozen=True, slots=True)
class _Html:
    text: str
    #: The page's one inline script, allowed by its hash rather than by 'unsafe-inline'.
    script: str


def _page(page: _Html) -> Handler:
    script_hash = hashlib.sha256(page.script.encode()).digest()
    policy = "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' 'sha256-{base64.b64encode(script_hash).decode()}'",
            # Both UIs set inline styles (React style attributes, Scalar's injected stylesheet).
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )
    headers = {"Content-Security-Policy": policy, "Referrer-Policy": "no-referrer"}
    return _fixed(page.text.replace("{script}", page.script).encode(), "text/html; charset=utf-8", headers)


def _swagger_page(title: str, url: Callable[[str], str]) -> _Html:
    options = {
        "url": "openapi.json",
        "dom_id": "#swagger-ui",
        "deepLinking": True,
        "layout": "BaseLayout",
        # The default would show a badge loaded from validator.swagger.io.
        "validatorUrl": None,
        "displayOperationId": True,
        "defaultModelsExpandDepth": 0,
    }
    script = (
        f"window.ui = SwaggerUIBundle(Object.assign({json.dumps(options)}, "
        "{presets: [SwaggerUIBundle.presets.apis]}));"
    )
    text = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}: Swagger UI</title>
<link rel="icon" type="image/png" href="{url("swagger-ui/favicon-32x32.png")}">
<link rel="stylesheet" href="{url("swagger-ui/swagger-ui.css")}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{url("swagger-ui/swagger-ui-bundle.js")}"></script>
<script>{{script}}</script>
</body>
</html>
"""
    return _Html(text, script)


def _scalar_page(title: str, url: Callable[[str], str]) -> _Html:
    options = {
        "url": "openapi.json",
        # Scalar would fetch Inter and JetBrains Mono from fonts.scalar.com, report usage, and
        # offer its hosted AI agent and MCP links; a self-hosted page uses none of them.
        "withDefaultFonts": False,
        "telemetry": False,
        "agent": {"disabled": True},
        "mcp": {"disabled": True},
        "showDeveloperTools": "never",
        "favicon": url("swagger-ui/favicon-32x32.png"),
    }
    # The document has no `servers` (the API is wherever it is served from), so Scalar's code
    # samples would show bare paths; the page's own origin is where the API is.
    script = (
        f"Scalar.createApiReference('#app', Object.assign({json.dumps(options)}, "
        "{servers: [{url: window.location.origin}]}));"
    )
    text = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}: API reference</title>
<link rel="icon" type="image/png" href="{url("swagger-ui/favicon-32x32.png")}">
</head>
<body>
<div id="app"></div>
<script src="{url("scalar/standalone.js")}"></script>
<script>{{script}}</script>
</body>
</html>
"""
    return _Html(text, script)
