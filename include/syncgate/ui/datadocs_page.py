"""A GX Data Docs page as the UI serves it: local assets only, and a CSP for exactly its scripts.

The rewrite happens when a page is served, not when GX writes it: GX re-renders its index on
every run and pages built before this existed stay on disk, and both are served the same way.

* Every CDN URL of GX's templates points at the vendored copy (``ui.datadocs_assets``); GX's
  logo comes from the site's own ``static/images``; any other reference to another host (a
  link to GX's website, a data value in an ``href``) is dropped, and GX's newsletter and
  tutorial footers go. A served page never makes the browser contact another host.
* The CSP keeps the sandbox (an opaque origin: GX's scripts never run with Airflow's cookies or
  storage) but lets scripts run: the vendored script files by exact URL, and the inline scripts
  and handlers ``ui.datadocs_scripts`` recognises as GX's, by hash. Nothing loads from elsewhere.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass

from syncgate.ui.datadocs_assets import ASSETS, ROUTE
from syncgate.ui.datadocs_scripts import allowed_handler, allowed_script, csp_hash

_GX_LOGO = re.compile(
    r"https://great-expectations-web-assets\.s3\.[a-z0-9-]+\.amazonaws\.com/logo-long\.png[^\"'\s<>]*"
)
_FOOTERS = (
    re.compile(r"<footer>\s*<p>Stay current on everything GX.*?</footer>", re.S),
    re.compile(r"<footer[^>]*\bid=\"ge-cta-footer\".*?</footer>\s*(?:<script>.*?</script>)?", re.S),
)
_URL_ATTRIBUTE = re.compile(
    r"""\s(?:src|href|action|formaction|poster|srcset|background|ping|xlink:href|data)\s*=\s*(?:"([^"]*)"|'([^']*)')""",
    re.I,
)
# In style blocks and style attributes only: elsewhere such text is a value shown on the page.
_STYLE = re.compile(r"""(<style\b[^>]*>)(.*?)(</style\s*>)|(\sstyle\s*=\s*)("[^"]*"|'[^']*')""", re.S | re.I)
_CSS_URL = re.compile(r"""url\(\s*["']?\s*(?!data:)(?:[a-z][a-z0-9+.-]*:|//|\\\\)[^)]*\)""", re.I)
_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.S | re.I)
_HANDLER = re.compile(r"""\son[a-z]+\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)
# A reference that stays on this site: a fragment, a relative path or an absolute path on this host.
_LOCAL = re.compile(r"^\s*(?:$|#|\?|/(?![/\\])|[^:/?#\\]+(?:[/?#]|$))")


@dataclass(frozen=True)
class DocsPage:
    """A page ready to serve: its HTML and the Content-Security-Policy to send with it."""

    html: str
    csp: str


def rewrite(page: str, *, origin: str, app_path: str, site_path: str) -> DocsPage:
    """``page`` with local assets and its CSP.

    ``origin`` is the scheme and host the browser reached the UI at, ``app_path`` the app's
    mount path (``/syncgate``) and ``site_path`` the URL path of the flow's Data Docs folder.
    """
    # Browsers hash inline scripts after normalising newlines: so must we.
    text = page.replace("\r\n", "\n").replace("\r", "\n")
    assets = f"{app_path}{ROUTE}"
    for asset in ASSETS:
        for quote in ('"', "'"):
            text = text.replace(f"{quote}{asset.url}{quote}", f"{quote}{assets}/{asset.local}{quote}")
    text = _GX_LOGO.sub(f"{site_path}/static/images/logo-long.png", text)
    for footer in _FOOTERS:
        text = footer.sub("", text)
    text = _URL_ATTRIBUTE.sub(_keep_if_local, text)
    text = _STYLE.sub(_local_css, text)
    return DocsPage(text, policy(text, origin=origin, assets_path=assets, site_path=site_path))


def policy(page: str, *, origin: str, assets_path: str, site_path: str) -> str:
    """The CSP of ``page``: the vendored scripts by URL, GX's inline scripts by hash."""
    hashes: list[str] = []
    handlers: list[str] = []
    for found in _SCRIPT.finditer(page):
        if "src" not in found.group(1).lower() and allowed_script(found.group(2)):
            hashes.append(csp_hash(found.group(2)))
    for found in _HANDLER.finditer(page):
        value = html_lib.unescape(found.group(1) if found.group(1) is not None else found.group(2))
        if allowed_handler(value):
            handlers.append(csp_hash(value))
    scripts = [f"{origin}{assets_path}/{a.local}" for a in ASSETS if a.kind == "script"]
    inline = list(dict.fromkeys(hashes + handlers))
    if handlers:
        inline.insert(0, "'unsafe-hashes'")  # lets handler attributes match their hashes
    return "; ".join(
        [
            "sandbox allow-scripts allow-popups allow-top-navigation-by-user-activation",
            "default-src 'none'",
            "script-src " + " ".join(scripts + inline),
            # GX writes <style> blocks and style attributes; styles cannot load from elsewhere.
            f"style-src {origin}{assets_path}/ 'unsafe-inline'",
            f"font-src {origin}{assets_path}/",
            f"img-src {origin}{site_path}/ data:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'self'",
        ]
    )


def _local_css(found: re.Match[str]) -> str:
    if found.group(1) is not None:
        return found.group(1) + _CSS_URL.sub("none", found.group(2)) + found.group(3)
    return found.group(4) + _CSS_URL.sub("none", found.group(5))


def _keep_if_local(found: re.Match[str]) -> str:
    value = html_lib.unescape(found.group(1) if found.group(1) is not None else found.group(2))
    return found.group(0) if _LOCAL.match(value) else ""
