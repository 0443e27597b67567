"""Copies the API docs' browser assets from `node_modules` into `gateway/static` (`make assets`).

The docs pages (`gateway/docs.py`) are served without any CDN, so Swagger UI and Scalar are
vendored: exact copies of files of the npm packages pinned in `package.json`, plus their
licenses. Each served text asset also gets a `.gz` sibling (deterministic: no name, mtime 0),
which aiohttp's `FileResponse` sends to clients that accept gzip. `gateway/static/assets.json`
records, for each served file, its package, version and SHA-256: `gateway/docs.py` versions the
asset URLs with the digest, and `tests/test_openapi.py` checks the copies against it and against
`node_modules`.

To move to a new release: bump the version in `package.json`, `npm install`, then `make assets`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
STATIC = ROOT / "gateway" / "static"
MANIFEST = "assets.json"
#: Served files of these types get a gzip sibling; PNGs are compressed already.
COMPRESSED_SUFFIXES = (".js", ".css")


@dataclass(frozen=True, slots=True)
class Vendored:
    """One file of an npm package, and where its copy goes under `gateway/static`."""

    package: str
    source: str
    target: str
    #: False for license texts: they are kept beside the copies, not served.
    served: bool = True


VENDORED: tuple[Vendored, ...] = (
    Vendored("swagger-ui-dist", "swagger-ui-bundle.js", "swagger-ui/swagger-ui-bundle.js"),
    Vendored("swagger-ui-dist", "swagger-ui.css", "swagger-ui/swagger-ui.css"),
    Vendored("swagger-ui-dist", "favicon-32x32.png", "swagger-ui/favicon-32x32.png"),
    Vendored("swagger-ui-dist", "LICENSE", "swagger-ui/LICENSE", served=False),
    Vendored("swagger-ui-dist", "NOTICE", "swagger-ui/NOTICE", served=False),
    Vendored(
        "swagger-ui-dist",
        "swagger-ui-bundle.js.LICENSE.txt",
        "swagger-ui/swagger-ui-bundle.js.LICENSE.txt",
        served=False,
    ),
    # The IIFE build: one self-contained file that loads no chunks (its only dynamic import is
    # for plugin URLs, which the page does not configure).
    Vendored("@scalar/api-reference", "dist/browser/standalone.js", "scalar/standalone.js"),
    # @scalar/api-reference ships no LICENSE file; its monorepo's MIT license is the same text
    # in every sibling package.
    Vendored("@scalar/api-client", "LICENSE", "scalar/LICENSE", served=False),
)


def package_version(package: str, node_modules: Path = NODE_MODULES) -> str:
    data: dict[str, object] = json.loads((node_modules / package / "package.json").read_text())
    return str(data["version"])


def gzipped(data: bytes) -> bytes:
    """`data` gzipped the same way on every run."""
    return gzip.compress(data, compresslevel=9, mtime=0)


def copy_assets(static: Path = STATIC, node_modules: Path = NODE_MODULES) -> dict[str, dict[str, str]]:
    """Copies every vendored file into `static`, writes the gzip siblings and the manifest, and
    returns the manifest: `{target: {package, version, source, sha256}}` for the served files.

    Raises:
        FileNotFoundError: `node_modules` lacks a package: run `npm install` first.
    """
    manifest: dict[str, dict[str, str]] = {}
    for item in VENDORED:
        source = node_modules / item.package / item.source
        target = static / item.target
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        if not item.served:
            continue
        data = target.read_bytes()
        if target.suffix in COMPRESSED_SUFFIXES:
            target.with_name(target.name + ".gz").write_bytes(gzipped(data))
        manifest[item.target] = {
            "package": item.package,
            "version": package_version(item.package, node_modules),
            "source": item.source,
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    (static / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


if __name__ == "__main__":
    for name, entry in copy_assets().items():
        size = (STATIC / name).stat().st_size
        print(f"{name}: {entry['package']}@{entry['version']}, {size:,} bytes")
    sys.exit(0)
