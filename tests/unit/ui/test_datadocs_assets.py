"""The vendored Data Docs assets: exactly what GX's installed templates load, pinned and licensed."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from syncgate.ui.app import create_app
from syncgate.ui.datadocs_assets import ASSETS, ASSETS_DIR, BY_URL, CHECKSUMS, ROUTE, packages, vendored_files
from syncgate.ui.datadocs_scripts import gx_templates

pytestmark = pytest.mark.unit

_LOADED = re.compile(r"<(?:script|link)\b[^>]*?\s(?:src|href)=\"(https?://[^\"]+)\"([^>]*)>", re.S)


def _template_loads() -> dict[str, str]:
    """Every URL a GX template loads a script or stylesheet from -> the rest of its tag."""
    folder = gx_templates()
    assert folder is not None, "great_expectations is installed with its Data Docs templates"
    return {m.group(1): m.group(2) for t in folder.glob("*.j2") for m in _LOADED.finditer(t.read_text())}


def test_every_url_the_gx_templates_load_is_vendored_and_nothing_else() -> None:
    # A GX upgrade that changes a CDN URL fails here: run `make datadocs-assets` after adding it.
    assert set(_template_loads()) == set(BY_URL)


def test_the_vendored_files_are_the_pinned_bytes_with_their_licences() -> None:
    sums = dict(reversed(line.split("  ", 1)) for line in (ASSETS_DIR / CHECKSUMS).read_text().splitlines())
    on_disk = {
        p.relative_to(ASSETS_DIR).as_posix()
        for p in ASSETS_DIR.rglob("*")
        if p.is_file() and p.name != CHECKSUMS
    }
    assert set(sums) == on_disk
    for name, digest in sums.items():
        assert hashlib.sha256((ASSETS_DIR / name).read_bytes()).hexdigest() == digest, name
    for package in packages():
        folder = ASSETS_DIR / package.folder
        licence = (folder / package.licence_file).read_text()
        assert len(licence) > 500, package
        if not package.licence:  # kept by hand: it says which release it covers
            assert f"{package.name} {package.version}" in licence, package
        for file in vendored_files(package):
            assert (folder / file).is_file(), (package, file)
    expected = {f"{p.folder}/{f}" for p in packages() for f in [*vendored_files(p), p.licence_file]}
    assert on_disk == expected  # nothing vendored that no page loads


def test_subresource_integrity_of_the_templates_matches_the_vendored_files() -> None:
    # GX pins two of the files with SRI hashes: the vendored bytes are those very files.
    checked = 0
    for url, rest in _template_loads().items():
        found = re.search(r'integrity="(sha\d+)-([^"]+)"', rest)
        if found:
            data = (ASSETS_DIR / BY_URL[url].local).read_bytes()
            assert base64.b64encode(hashlib.new(found.group(1), data).digest()).decode() == found.group(2)
            checked += 1
    assert checked == 2


def test_vendored_stylesheets_load_nothing_from_elsewhere() -> None:
    for asset in ASSETS:
        if asset.kind != "style":
            continue
        css = (ASSETS_DIR / asset.local).read_text()
        for url in re.findall(r"url\(\s*['\"]?([^)'\"]+)", css):
            if url.startswith("data:"):
                continue
            assert "//" not in url and ":" not in url, (asset.local, url)
            target = (ASSETS_DIR / asset.local).parent / url.split("?")[0].split("#")[0]
            assert target.resolve().is_file(), (asset.local, url)  # e.g. Font Awesome's webfonts


def test_assets_are_served_to_anyone_with_cors_and_caching() -> None:
    client = TestClient(create_app())  # no login: a sandboxed page's font requests carry no cookie
    jquery = BY_URL["https://code.jquery.com/jquery-3.7.1.min.js"]
    response = client.get(f"{ROUTE}/{jquery.local}")
    assert response.status_code == 200
    assert response.content == (ASSETS_DIR / jquery.local).read_bytes()
    assert response.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert response.headers["access-control-allow-origin"] == "*"
    assert "immutable" in response.headers["cache-control"]
    assert response.headers["x-content-type-options"] == "nosniff"
    font = client.get(f"{ROUTE}/fontawesome-free@6.6.0/webfonts/fa-solid-900.woff2")
    assert font.status_code == 200 and font.headers["access-control-allow-origin"] == "*"
    for missing in (CHECKSUMS, "../app.py", "jquery@3.7.1/../../app.py", "nope.js", "jquery@3.7.1"):
        assert client.get(f"{ROUTE}/{missing}").status_code == 404, missing


def test_the_assets_folder_ships_inside_the_package() -> None:
    assert ASSETS_DIR.is_relative_to(Path(__file__).resolve().parents[3] / "include" / "syncgate")
