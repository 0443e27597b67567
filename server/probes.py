"""The operator's HTTP probes, beside the API: `/healthz` (the process answers) and `/readyz`
(it can take writes: the database takes a commit and the process is not shutting down). They
are not in the protos, like the API documents: they describe the server, not its API, and need
no key."""

from __future__ import annotations

from aiohttp import web

from server.readiness import Readiness

#: How long a client told "not ready" should wait.
_RETRY_AFTER_S = "5"


def add_probe_routes(app: web.Application, readiness: Readiness) -> None:
    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        if readiness.ready:
            return web.json_response({"status": "ready"})
        reason = f"the database refuses writes: {readiness.failing}"
        if readiness.stopping:
            reason = "shutting down"
        return web.json_response(
            {"status": "not ready", "reason": reason}, status=503, headers={"Retry-After": _RETRY_AFTER_S}
        )

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
