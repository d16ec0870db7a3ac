"""Data Docs open offline: no page or stylesheet references a remote URL, every local reference resolves, and
the vendored assets are the files the manifest pins."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from data_contracts import check
from data_contracts.offline_docs import ASSETS, ASSETS_DIR, remote_references, rewrite_page

from test_contracts import P, SIZE, clean_rows, rows_to_table

_LOCAL = re.compile(r"""\b(?:src|href)="(?!#|https?:|//|data:|mailto:|javascript:)([^"?#]+)""")


def test_rewrite_page_vendors_cdn_assets_and_unlinks_the_web():
    site = Path("/site")
    page = site / "validations" / "x.html"
    html = ('<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>'
            '<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>'
            '<script src="https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js" '
            'integrity="sha384-abc" crossorigin="anonymous"></script>'
            '<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>'
            '<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=1">'
            '<a class="x" href="https://greatexpectations.io">GX</a>')
    out = rewrite_page(html, page, site)
    assert remote_references(out) == []
    assert 'href="../static/vendor/bootstrap.min.css"' in out and 'src="../static/vendor/jquery.min.js"' in out
    assert "integrity" not in out and "crossorigin" not in out and "vega" not in out
    assert 'src="../static/images/logo-long.png"' in out and '<a class="x">GX</a>' in out
    with pytest.raises(ValueError, match="Vega"):
        rewrite_page(html + "<script>vegaEmbed('#c', spec)</script>", page, site)


def test_vendored_assets_match_the_manifest():
    manifest = {e["file"]: e for e in json.loads((ASSETS_DIR / "MANIFEST.json").read_text())}
    assert set(manifest) == {a.dest for a in ASSETS}
    for name, entry in manifest.items():
        assert hashlib.sha256((ASSETS_DIR / name).read_bytes()).hexdigest() == entry["sha256"], name


def test_data_docs_site_is_self_contained(tmp_path):
    rows = clean_rows()
    check(rows_to_table(rows), "registered_pairs", P, SIZE, docs_dir=tmp_path / "docs")
    rows[0]["height"] = 7                                          # a failing run: its page too
    res = check(rows_to_table(rows), "registered_pairs", P, SIZE, docs_dir=tmp_path / "docs")
    site = tmp_path / "docs"
    pages = sorted(site.rglob("*.html"))
    assert res.docs_index == site / "index.html" and len(pages) >= 3
    for f in [*pages, *site.rglob("*.css")]:
        text = f.read_text(encoding="utf-8")
        assert remote_references(text) == [], f
        if f.suffix == ".html":
            for ref in _LOCAL.findall(text):
                assert (f.parent / ref).resolve().is_file(), f"{f}: {ref} does not resolve"
    for ref in re.findall(r"url\((\.\./webfonts/[^)]+)\)",
                          (site / "static/vendor/fontawesome/css/all.min.css").read_text()):
        assert (site / "static/vendor/fontawesome/css" / ref).resolve().is_file(), ref
    index = (site / "index.html").read_text()
    assert "static/vendor/bootstrap-table.min.js" in index and "static/vendor/jquery.min.js" in index
    assert "registered_pairs" in index                             # the table's rows are in the page itself


@pytest.mark.slow
def test_index_table_renders_offline_in_a_browser(tmp_path):
    """Headless Chromium with every host but 127.0.0.1 unresolvable: the index table is built by the vendored
    bootstrap-table (offline, GX's CDN version left the index empty).  Skipped where Chromium is not installed
    (Debian package `chromium`; infra/ui_screenshots.sh takes the screenshots)."""
    import shutil
    import subprocess
    chrome = shutil.which("chromium") or shutil.which("chromium-browser")
    if chrome is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    check(rows_to_table(clean_rows()), "registered_pairs", P, SIZE, docs_dir=tmp_path / "docs")
    res = subprocess.run([chrome, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={tmp_path / 'profile'}",
                          "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                          "--virtual-time-budget=15000", "--dump-dom", (tmp_path / "docs/index.html").as_uri()],
                         capture_output=True, text=True, timeout=120)
    dom = res.stdout
    assert "Showing 1 to 1 of 1 rows" in dom, dom[-2000:]          # bootstrap-table ran: the rows are there
    assert "fa-check-circle" in dom or "fa-times" in dom            # the status icon
