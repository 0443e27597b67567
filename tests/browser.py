"""A real headless Chromium for the browser tests: a page server on 127.0.0.1 that the tests open
as `http://localhost:<port>`, another origin than the gateway's `http://127.0.0.1:<port>`, and a
bounded run of Debian's chromium until the page reports back (optionally with a screenshot)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.typedefs import Handler

from tests.subprocesses import tool_or_skip

TIMEOUT_S = 60.0
#: How long chromium may take to exit once terminated, before it is killed.
EXIT_TIMEOUT_S = 10.0


def chromium_or_skip(purpose: str, *, needs: tuple[Path, ...] = ()) -> str:
    """The path of a Chromium. `make test` installs Debian's chromium where it can; under CI=true
    a missing one (or a missing path in `needs`) fails the test instead of skipping it."""
    name = next((name for name in ("chromium-browser", "google-chrome") if shutil.which(name)), "chromium")
    return tool_or_skip(name, needs=needs, purpose=purpose)


@dataclass
class Page:
    """The page's own server: its port, the HTML it serves at `/`, and the page's report."""

    port: int
    report: asyncio.Future[dict[str, Any]]
    html: str = ""

    @property
    def origin(self) -> str:
        """The page's origin: `localhost`, so that calls to the gateway on 127.0.0.1 cross origins."""
        return f"http://localhost:{self.port}"


@contextlib.asynccontextmanager
async def page_server(
    scripts: Mapping[str, str] | None = None, *, static: Mapping[str, Path] | None = None
) -> AsyncIterator[Page]:
    """Serves, on 127.0.0.1, `page.html` at `/`, each of `scripts` (path → JavaScript) and each
    directory of `static` under its prefix. The page POSTs its JSON report to `/report`; `GET
    /reported` answers once it has, so an `<img src="/reported">` holds the page's load event (and
    chromium's `--screenshot`) until the report is in."""
    page = Page(0, asyncio.get_running_loop().create_future())

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page.html, content_type="text/html")

    def script(text: str) -> Handler:
        async def serve(request: web.Request) -> web.Response:
            return web.Response(text=text, content_type="text/javascript")

        return serve

    async def receive(request: web.Request) -> web.Response:
        if not page.report.done():
            page.report.set_result(orjson.loads(await request.read()))
        return web.Response(status=204)

    async def reported(request: web.Request) -> web.Response:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(page.report), TIMEOUT_S)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/", index)
    for path, text in (scripts or {}).items():
        app.router.add_get(path, script(text))
    for prefix, directory in (static or {}).items():
        app.router.add_static(prefix, directory)
    app.router.add_post("/report", receive)
    app.router.add_get("/reported", reported)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        page.port = runner.addresses[0][1]
        yield page
    finally:
        await runner.cleanup()


async def browse(
    chromium: str,
    url: str,
    tmp_path: Path,
    report: asyncio.Future[dict[str, Any]],
    *,
    screenshot: Path | None = None,
) -> dict[str, Any]:
    """Opens `url` in a headless Chromium until the page reports; returns the report. With
    `screenshot`, chromium saves a PNG there once the page has loaded, then exits by itself. Fails
    the test if chromium exits before the page reports or either takes over `TIMEOUT_S`."""
    log = tmp_path / "chromium.log"
    shot = [f"--screenshot={screenshot}", "--window-size=1024,768", "--hide-scrollbars"] if screenshot else []
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-proxy-server",
            "--enable-logging=stderr",
            f"--user-data-dir={tmp_path / 'chromium'}",
            *shot,
            url,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )
    exited = asyncio.ensure_future(process.wait())
    try:
        async with asyncio.timeout(TIMEOUT_S):
            either: list[asyncio.Future[Any]] = [report, exited]
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if not report.done():
                pytest.fail(f"chromium exited {process.returncode} before the page reported:\n{_tail(log)}")
            if screenshot is not None:
                await exited
        return report.result()
    except TimeoutError:
        pytest.fail(f"the page did not report (or chromium exit) within {TIMEOUT_S} s:\n{_tail(log)}")
    finally:
        if process.returncode is None:
            process.terminate()
        try:
            await asyncio.wait_for(asyncio.shield(exited), EXIT_TIMEOUT_S)
        except TimeoutError:
            process.kill()
            await exited


def _tail(log: Path, lines: int = 30) -> str:
    """The end of chromium's log, the page's console included, without D-Bus's complaints."""
    kept = [line for line in log.read_text(errors="replace").splitlines() if "dbus" not in line.lower()]
    return "\n".join(kept[-lines:])
