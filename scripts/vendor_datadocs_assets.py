"""Vendor the browser assets of GX Data Docs from the npm registry (``make datadocs-assets``).

For each package of ``syncgate.ui.datadocs_assets``: read its registry metadata, download the
tarball, check it against the registry's sha512 integrity, and copy the listed files and the
package's licence to ``include/syncgate/ui/static/datadocs/<package>@<version>/``. Then write
``SHA256SUMS`` over everything vendored, which the unit tests check.

Run it after a GX upgrade changes the URLs its templates load (the unit tests say which).
Packages whose tarball has no licence file (popper.js 1.x, vega) keep a hand-written LICENSE.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))

from syncgate.ui.datadocs_assets import ASSETS_DIR, CHECKSUMS, Package, packages, vendored_files  # noqa: E402

REGISTRY = "https://registry.npmjs.org"


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (a fixed https registry)
        return bytes(response.read())


def _tarball(package: Package) -> tarfile.TarFile:
    meta = json.loads(_get(f"{REGISTRY}/{package.name.replace('/', '%2F')}/{package.version}"))
    data = _get(meta["dist"]["tarball"])
    algorithm, _, expected = meta["dist"]["integrity"].partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise SystemExit(f"{package.name}@{package.version}: tarball does not match its registry integrity")
    return tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")


def vendor(package: Package) -> None:
    folder = ASSETS_DIR / package.folder
    wanted = vendored_files(package) + ([package.licence] if package.licence else [])
    with _tarball(package) as tar:
        for name in wanted:
            member = tar.extractfile(f"package/{name}")
            if member is None:
                raise SystemExit(f"{package.name}@{package.version} has no file {name}")
            target = folder / (Path(name).name if name == package.licence else name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(member.read())
    if not (folder / package.licence_file).is_file():
        raise SystemExit(f"{package.name}@{package.version}: no licence file in {folder}")
    print(f"vendored {package.name}@{package.version} -> {folder.relative_to(ASSETS_DIR.parents[3])}")


def write_checksums() -> None:
    lines = [
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(ASSETS_DIR).as_posix()}"
        for path in sorted(ASSETS_DIR.rglob("*"))
        if path.is_file() and path.name != CHECKSUMS
    ]
    (ASSETS_DIR / CHECKSUMS).write_text("\n".join(lines) + "\n")


def main() -> None:
    for package in packages():
        vendor(package)
    write_checksums()


if __name__ == "__main__":
    main()
