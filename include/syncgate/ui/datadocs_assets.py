"""The browser assets GX Data Docs pages load, vendored and served by syncgate itself.

GX 1.x writes its Data Docs pages with ``<script>`` and ``<link>`` tags pointing at public CDNs
(unpkg, jsDelivr, cdnjs, bootstrapcdn, code.jquery.com). An Airflow without internet access then
shows the reports unstyled, with a blank status column and an empty index. Every one of those
URLs maps here to a pinned copy of the very same file, taken from the npm registry by
``scripts/vendor_datadocs_assets.py`` and kept under ``ui/static/datadocs/<package>@<version>/``
with the package's licence next to it (``SHA256SUMS`` there pins the bytes).

Versions are exactly the ones GX's templates name. Where a template names a major version only
(``vega@5``), jsDelivr serves the newest release of that major; the pin is the newest one when
vendored, so the pages get what they were written against.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ASSETS_DIR = Path(__file__).parent / "static" / "datadocs"
CHECKSUMS = "SHA256SUMS"
# Where the app serves ASSETS_DIR, below its own mount point (``/syncgate``).
ROUTE = "/assets/datadocs"


@dataclass(frozen=True)
class Package:
    """One npm package some assets come from."""

    name: str
    version: str
    folder: str  # under ASSETS_DIR
    # The licence file inside the npm tarball; "" where the tarball ships none (popper.js 1.x,
    # vega): its licence is then kept by hand in the folder, as LICENSE.
    licence: str = "LICENSE"
    # Files a vendored stylesheet loads by relative URL (Font Awesome's webfonts).
    extra_files: tuple[str, ...] = ()

    @property
    def licence_file(self) -> str:
        return Path(self.licence).name if self.licence else "LICENSE"


@dataclass(frozen=True)
class Asset:
    """A CDN URL found in GX's templates and the vendored file that replaces it."""

    url: str
    package: Package
    file: str  # path inside the npm package, without the tarball's "package/" prefix
    kind: Literal["script", "style"]

    @property
    def local(self) -> str:
        """Path below ASSETS_DIR (and below ROUTE)."""
        return f"{self.package.folder}/{self.file}"


JQUERY = Package("jquery", "3.7.1", "jquery@3.7.1", "LICENSE.txt")
POPPER = Package("popper.js", "1.12.9", "popper.js@1.12.9", "")
BOOTSTRAP = Package("bootstrap", "4.3.1", "bootstrap@4.3.1")
BOOTSTRAP_TABLE = Package("bootstrap-table", "1.19.1", "bootstrap-table@1.19.1")
# GX's index and page templates take the filter-control stylesheet from 1.19.0, the script from 1.19.1.
BOOTSTRAP_TABLE_CSS = Package("bootstrap-table", "1.19.0", "bootstrap-table@1.19.0")
DATEPICKER = Package("bootstrap-datepicker", "1.9.0", "bootstrap-datepicker@1.9.0")
BOOTSTRAP_DARK = Package("@forevolve/bootstrap-dark", "1.1.0", "bootstrap-dark@1.1.0")
FONT_AWESOME = Package(
    "@fortawesome/fontawesome-free",
    "6.6.0",
    "fontawesome-free@6.6.0",
    "LICENSE.txt",
    extra_files=tuple(
        f"webfonts/fa-{face}.{ext}"
        for face in ("brands-400", "regular-400", "solid-900", "v4compatibility")
        for ext in ("woff2", "ttf")
    ),
)
VEGA = Package("vega", "5.33.1", "vega@5.33.1", "")
VEGA_LITE = Package("vega-lite", "5.23.0", "vega-lite@5.23.0")
VEGA_EMBED = Package("vega-embed", "6.29.0", "vega-embed@6.29.0")

_UNPKG_TABLE = "https://unpkg.com/bootstrap-table@1.19.1/dist"
_FILTER_CONTROL = "dist/extensions/filter-control/bootstrap-table-filter-control"

# Every external URL of great_expectations/render/view/templates/*.j2 that a page loads, in
# template order (tests/unit/ui/test_datadocs_assets.py checks none is missing).
ASSETS: tuple[Asset, ...] = (
    Asset(f"{_UNPKG_TABLE}/bootstrap-table.min.css", BOOTSTRAP_TABLE, "dist/bootstrap-table.min.css", "style"),
    Asset("https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css", BOOTSTRAP,
          "dist/css/bootstrap.min.css", "style"),
    Asset(f"https://unpkg.com/bootstrap-table@1.19.0/{_FILTER_CONTROL}.min.css", BOOTSTRAP_TABLE_CSS,
          f"{_FILTER_CONTROL}.min.css", "style"),
    Asset(f"https://unpkg.com/bootstrap-table@1.19.0/{_FILTER_CONTROL}.css", BOOTSTRAP_TABLE_CSS,
          f"{_FILTER_CONTROL}.css", "style"),
    Asset("https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css",
          DATEPICKER, "dist/css/bootstrap-datepicker.min.css", "style"),
    Asset("https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css",
          BOOTSTRAP_DARK, "dist/css/bootstrap-prefers-dark.css", "style"),
    Asset("https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css", FONT_AWESOME,
          "css/all.min.css", "style"),
    Asset("https://cdn.jsdelivr.net/npm/vega@5", VEGA, "build/vega.min.js", "script"),
    Asset("https://cdn.jsdelivr.net/npm/vega-lite@5", VEGA_LITE, "build/vega-lite.min.js", "script"),
    Asset("https://cdn.jsdelivr.net/npm/vega-embed@6", VEGA_EMBED, "build/vega-embed.min.js", "script"),
    Asset("https://code.jquery.com/jquery-3.7.1.min.js", JQUERY, "dist/jquery.min.js", "script"),
    Asset("https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js", POPPER,
          "dist/umd/popper.min.js", "script"),
    Asset("https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js", BOOTSTRAP,
          "dist/js/bootstrap.min.js", "script"),
    Asset(f"{_UNPKG_TABLE}/bootstrap-table.min.js", BOOTSTRAP_TABLE, "dist/bootstrap-table.min.js", "script"),
    Asset(f"{_UNPKG_TABLE}/extensions/filter-control/bootstrap-table-filter-control.min.js", BOOTSTRAP_TABLE,
          f"{_FILTER_CONTROL}.min.js", "script"),
    Asset("https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js",
          DATEPICKER, "dist/js/bootstrap-datepicker.min.js", "script"),
)  # fmt: skip

BY_URL: dict[str, Asset] = {asset.url: asset for asset in ASSETS}


def packages() -> list[Package]:
    """Each vendored package once, in manifest order."""
    return list(dict.fromkeys(asset.package for asset in ASSETS))


def vendored_files(package: Package) -> list[str]:
    """Paths inside the npm package that are vendored for ``package`` (licence not included)."""
    files = [a.file for a in ASSETS if a.package == package]
    return list(dict.fromkeys([*files, *package.extra_files]))
