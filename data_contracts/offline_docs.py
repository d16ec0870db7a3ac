"""Make a great-expectations Data Docs site self-contained: it renders offline, with its styles and its tables.

GX 1.24's page templates load Bootstrap, jQuery, bootstrap-table, Font Awesome, ... from public CDNs and its
logo from an S3 bucket: offline the index page (a bootstrap-table filled by JavaScript) stays empty and every page
is unstyled.  :func:`make_offline` copies the vendored copies of exactly those files (``docs_assets/``, fetched
from the npm registry by ``python -m data_contracts.vendor_docs_assets``; versions and sha256 in its
``MANIFEST.json``) into the site and rewrites every page to load them by relative path.  Links to GX's web site
lose their ``href`` (text kept); the Vega scripts, which the contract pages never call, are dropped, and a page
that does call ``vegaEmbed`` is an error (its charts would be blank).  Afterwards no page or stylesheet
references a remote URL; :func:`remote_references` lists any that remain, and :func:`make_offline` raises if one
does, so nothing is silently left pointing at the network.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent / "docs_assets"
SITE_VENDOR = Path("static/vendor")


@dataclass(frozen=True)
class Asset:
    """One vendored file: the npm package it comes from, its path there, and the CDN URLs it replaces."""
    package: str
    path: str
    dest: str
    urls: tuple[str, ...]


ASSETS: tuple[Asset, ...] = (
    Asset("bootstrap@4.3.1", "dist/css/bootstrap.min.css", "bootstrap.min.css",
          ("https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css",)),
    Asset("bootstrap@4.3.1", "dist/js/bootstrap.min.js", "bootstrap.min.js",
          ("https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js",)),
    Asset("jquery@3.7.1", "dist/jquery.min.js", "jquery.min.js", ("https://code.jquery.com/jquery-3.7.1.min.js",)),
    Asset("popper.js@1.12.9", "dist/umd/popper.min.js", "popper.min.js",
          ("https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js",)),
    Asset("bootstrap-table@1.19.1", "dist/bootstrap-table.min.css", "bootstrap-table.min.css",
          ("https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css",)),
    Asset("bootstrap-table@1.19.1", "dist/bootstrap-table.min.js", "bootstrap-table.min.js",
          ("https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js",)),
    Asset("bootstrap-table@1.19.1", "dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
          "bootstrap-table-filter-control.min.js",
          ("https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
           "bootstrap-table-filter-control.min.js",)),
    # GX asks for 1.19.0's filter-control CSS next to 1.19.1's JS; the 1.19.1 stylesheet serves both
    Asset("bootstrap-table@1.19.1", "dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
          "bootstrap-table-filter-control.min.css",
          ("https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
           "bootstrap-table-filter-control.css",
           "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
           "bootstrap-table-filter-control.min.css")),
    Asset("bootstrap-datepicker@1.9.0", "dist/css/bootstrap-datepicker.min.css", "bootstrap-datepicker.min.css",
          ("https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css",)),
    Asset("bootstrap-datepicker@1.9.0", "dist/js/bootstrap-datepicker.min.js", "bootstrap-datepicker.min.js",
          ("https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js",)),
    Asset("@forevolve/bootstrap-dark@1.1.0", "dist/css/bootstrap-prefers-dark.min.css",
          "bootstrap-prefers-dark.min.css",
          ("https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css",)),
    Asset("@fortawesome/fontawesome-free@6.6.0", "css/all.min.css", "fontawesome/css/all.min.css",
          ("https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css",)),
    *(Asset("@fortawesome/fontawesome-free@6.6.0", f"webfonts/{f}", f"fontawesome/webfonts/{f}", ())
      for f in ("fa-brands-400.woff2", "fa-regular-400.woff2", "fa-solid-900.woff2", "fa-v4compatibility.woff2")),
)
#: Vega, loaded by every GX page for charts our contract pages never draw
VEGA_URLS = ("https://cdn.jsdelivr.net/npm/vega@5", "https://cdn.jsdelivr.net/npm/vega-lite@5",
             "https://cdn.jsdelivr.net/npm/vega-embed@6")
#: GX's logo bucket -> the images GX itself copies into the site's static/images
GX_WEB_ASSETS = re.compile(r"https://great-expectations-web-assets\.s3\.[a-z0-9-]+\.amazonaws\.com/"
                           r"(?:full_logo_dark|logo-long)\.png(?:\?[^\"')\s]*)?")
GX_LOGO = "static/images/logo-long.png"

_REMOTE = re.compile(r"""(?:\b(?:src|href|action)\s*=\s*["']?|url\(\s*["']?)(?P<url>(?:https?:)?//[^"'\s)>]+)""",
                     re.I)
_VEGA_TAG = re.compile(r"<script[^>]+src=\"(?:" + "|".join(re.escape(u) for u in VEGA_URLS) + r")\"[^>]*>\s*</script>\s*")
_TAG_WITH = r"<(?:link|script)\b[^>]*?(?:href|src)=\"{url}\"[^>]*>"
_SRI = re.compile(r"\s+(?:integrity|crossorigin)=\"[^\"]*\"")
_STATIC_REF = re.compile(r"""(\b(?:src|href)=")(?:\./|\.\./)*static/""")
_ANCHOR_HREF = re.compile(r"(<a\b[^>]*?)\s+href=\"https?://[^\"]*\"", re.I)


def remote_references(text: str) -> list[str]:
    """URLs that a browser would fetch from (or navigate to on) another host: src/href/action and CSS url()."""
    return [m.group("url") for m in _REMOTE.finditer(text)]


def _relative(page: Path, site: Path, target: str) -> str:
    depth = len(page.relative_to(site).parts) - 1
    return "../" * depth + target


def rewrite_page(text: str, page: Path, site: Path) -> str:
    """One page: CDN assets -> vendored copies, logo -> local image, Vega dropped, outbound links unlinked."""
    for asset in ASSETS:
        for url in asset.urls:
            local = _relative(page, site, (SITE_VENDOR / asset.dest).as_posix())

            def swap(m, url=url, local=local):
                return _SRI.sub("", m.group(0)).replace(url, local)
            text = re.sub(_TAG_WITH.format(url=re.escape(url)), swap, text)
    if "vegaEmbed(" in text:
        raise ValueError(f"{page}: the page draws Vega charts, which need Vega's scripts; they are not vendored "
                         f"(data_contracts/offline_docs.py)")
    text = _VEGA_TAG.sub("", text)
    text = GX_WEB_ASSETS.sub(_relative(page, site, GX_LOGO), text)
    # GX writes some static/ links one level short on deep pages (favicon): point them at the site's static/
    text = _STATIC_REF.sub(lambda m: m.group(1) + _relative(page, site, "static/"), text)
    return _ANCHOR_HREF.sub(r"\1", text)


def make_offline(site: str | Path) -> list[Path]:
    """Vendor the assets into ``site`` and rewrite its HTML and CSS; returns the rewritten files."""
    site = Path(site)
    for asset in ASSETS:
        src = ASSETS_DIR / asset.dest
        if not src.exists():
            raise FileNotFoundError(f"{src}: vendored Data Docs asset missing (python -m "
                                    f"data_contracts.vendor_docs_assets)")
        dest = site / SITE_VENDOR / asset.dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    changed = []
    for path in sorted([*site.rglob("*.html"), *(site / "static/styles").glob("*.css")]):
        text = path.read_text(encoding="utf-8")
        new = rewrite_page(text, path, site) if path.suffix == ".html" else \
            GX_WEB_ASSETS.sub(_relative(path, site, GX_LOGO), text)
        left = remote_references(new)
        if left:
            raise ValueError(f"{path}: still references remote URLs after vendoring: {sorted(set(left))[:5]}")
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed
