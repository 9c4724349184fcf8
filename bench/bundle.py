"""The production frontend's size per route: what a browser downloads before a page can run, gzip and raw.

Reads a built frontend (``.web/build/client`` after ``reflex export --frontend-only --no-zip --env prod``, or what the
production server built). For every route of React Router's manifest (``assets/manifest-*.js``) it sums the entry
module, the root route and the page's route module with their static imports and CSS, plus the global stylesheets
the page's HTML links: the files loaded before the page renders. Chunks no route loads statically (loaded by a
dynamic ``import()`` when a component first renders, e.g. plotly) are listed apart. Gzip sizes are computed here
(level 9, as the build's own ``.gz`` files); the brotli column is what the server sends a browser that accepts
brotli, from the build's ``.br`` files (``frontend_compression_formats`` in rxconfig.py).

Usage: ``.venv/bin/python bench/bundle.py [--build .web/build/client] [--json]``. Prints a Markdown table; no
server, no browser, a second or two.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_MANIFEST = re.compile(r"window\.__reactRouterManifest\s*=\s*(\{.*\})\s*;?\s*$", re.S)
_STYLESHEET = re.compile(r'<link[^>]*href="(/assets/[^"]+\.css)"[^>]*rel="stylesheet"|'
                         r'<link[^>]*rel="stylesheet"[^>]*href="(/assets/[^"]+\.css)"')  # fmt: skip


@dataclass(frozen=True)
class Size:
    raw: int
    gzip: int
    brotli: int | None  # None: the build has no .br files


@dataclass
class RouteBundle:
    route: str  # the URL path pattern, "/" for the index
    files: list[str] = field(default_factory=list)  # /assets/… paths, entry first

    def size(self, build: Path) -> Size:
        return total(build, self.files)


@cache
def has_brotli(build: Path) -> bool:
    return any((build / "assets").glob("*.br"))


@cache
def file_size(path: Path, build: Path) -> Size:
    """The file's size, gzipped here, and as the server sends it to a browser accepting brotli: its ``.br`` copy,
    else its ``.gz`` copy, else itself (the build compresses no file under 256 bytes)."""
    data = path.read_bytes()
    sent = [path.with_name(path.name + suffix) for suffix in (".br", ".gz")]
    brotli = next((p.stat().st_size for p in sent if p.is_file()), len(data)) if has_brotli(build) else None
    return Size(len(data), len(gzip.compress(data, 9, mtime=0)), brotli)


def total(build: Path, files: list[str]) -> Size:
    sizes = [file_size(build / name.lstrip("/"), build) for name in files]
    brotli = [s.brotli for s in sizes]
    return Size(
        sum(s.raw for s in sizes),
        sum(s.gzip for s in sizes),
        None if any(b is None for b in brotli) else sum(b or 0 for b in brotli),
    )


def read_manifest(build: Path) -> tuple[str, dict[str, Any]]:
    """The manifest's own /assets path and its contents."""
    found = sorted((build / "assets").glob("manifest-*.js"))
    if not found:
        raise SystemExit(f"no assets/manifest-*.js under {build}: build the frontend first")
    text = found[-1].read_text(encoding="utf-8")
    match = _MANIFEST.search(text)
    if match is None:
        raise SystemExit(f"{found[-1]} is not a React Router manifest")
    return f"/assets/{found[-1].name}", json.loads(match.group(1))


def global_stylesheets(build: Path) -> list[str]:
    """The stylesheets every page's HTML links (Reflex's global styles): the index page's."""
    html = (build / "index.html").read_text(encoding="utf-8")
    return list(dict.fromkeys(a or b for a, b in _STYLESHEET.findall(html)))


def route_path(route: dict[str, Any]) -> str:
    return "/" + str(route.get("path") or "").strip("/")


def route_bundles(build: Path) -> tuple[list[RouteBundle], list[str]]:
    """Every page route's statically loaded files, and the JS files no route loads statically (lazy chunks)."""
    manifest_file, manifest = read_manifest(build)
    entry = manifest["entry"]
    routes = manifest["routes"]
    root = routes["root"]
    common = [manifest_file, entry["module"], *entry["imports"], *entry.get("css", []), root["module"],
              *root["imports"], *root.get("css", []), *global_stylesheets(build)]  # fmt: skip
    bundles = []
    for route_id, route in routes.items():
        if route_id == "root":
            continue
        files = [*common, route["module"], *route.get("imports", []), *route.get("css", [])]
        bundles.append(RouteBundle(route_path(route), list(dict.fromkeys(files))))
    bundles.sort(key=lambda b: b.route)
    loaded = {name for b in bundles for name in b.files}
    lazy = sorted(f"/assets/{p.name}" for p in (build / "assets").glob("*.js") if f"/assets/{p.name}" not in loaded)
    return bundles, lazy


def kib(n: int | None) -> str:
    return "–" if n is None else f"{n / 1024:,.0f}"


def report(build: Path) -> dict[str, Any]:
    bundles, lazy = route_bundles(build)
    routes = {}
    for bundle in bundles:
        size = bundle.size(build)
        routes[bundle.route] = {"files": len(bundle.files), "raw": size.raw, "gzip": size.gzip, "brotli": size.brotli}
    lazy_sizes = {name: file_size(build / name.lstrip("/"), build).__dict__ for name in lazy}
    return {"build": str(build), "routes": routes, "lazy": lazy_sizes}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", type=Path, default=ROOT / ".web" / "build" / "client")
    parser.add_argument("--json", action="store_true", help="print the JSON report instead of the tables")
    parser.add_argument("--lazy", type=int, default=8, help="how many of the largest lazy chunks to list")
    args = parser.parse_args()
    result = report(args.build)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
        return 0
    print(f"build: {args.build}\n")
    print("| route | files | JS + CSS KiB | gzip KiB | brotli KiB |\n| --- | ---: | ---: | ---: | ---: |")
    for route, r in result["routes"].items():
        print(f"| `{route}` | {r['files']} | {kib(r['raw'])} | {kib(r['gzip'])} | {kib(r['brotli'])} |")
    largest = sorted(result["lazy"].items(), key=lambda item: -item[1]["raw"])[: args.lazy]
    print("\nLoaded on demand (dynamic imports), largest first:\n")
    print("| chunk | KiB | gzip KiB | brotli KiB |\n| --- | ---: | ---: | ---: |")
    for name, s in largest:
        print(f"| `{name.removeprefix('/assets/')}` | {kib(s['raw'])} | {kib(s['gzip'])} | {kib(s['brotli'])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
