"""Fetch the Data Docs assets of :mod:`data_contracts.offline_docs` from the npm registry (a maintainer's tool:
``python -m data_contracts.vendor_docs_assets``, needs ``npm``; the pipeline itself never downloads anything).

Each package is fetched with ``npm pack <name>@<version>`` and the listed file copied to ``docs_assets/``.  One
change is made: Font Awesome's stylesheet lists a ``.woff2`` and a ``.ttf`` source per font; only the ``.woff2``
files are vendored (every current browser reads them), so the ``.ttf`` alternatives are removed from its
``src:`` lists.  ``MANIFEST.json`` records package, file, sha256 and licence of each copy.
"""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from data_contracts.offline_docs import ASSETS, ASSETS_DIR

LICENCES = {"bootstrap": "MIT", "jquery": "MIT", "popper.js": "MIT", "bootstrap-table": "MIT",
            "bootstrap-datepicker": "Apache-2.0", "@forevolve/bootstrap-dark": "MIT",
            "@fortawesome/fontawesome-free": "CC-BY-4.0 (icons), SIL OFL 1.1 (fonts), MIT (code)"}
_TTF = re.compile(r",\s*url\(\.\./webfonts/[\w.-]+\.ttf\)\s*format\(\"truetype\"\)")


def main() -> int:
    ASSETS_DIR.mkdir(parents=True, exist_ok=True)
    manifest = []
    with tempfile.TemporaryDirectory() as tmp:
        unpacked: dict[str, Path] = {}
        for asset in ASSETS:
            if asset.package not in unpacked:
                name = subprocess.run(["npm", "pack", "--silent", asset.package], cwd=tmp, check=True,
                                      capture_output=True, text=True).stdout.strip().splitlines()[-1]
                dest = Path(tmp) / name.replace(".tgz", "")
                with tarfile.open(Path(tmp) / name) as tf:
                    tf.extractall(dest, filter="data")
                unpacked[asset.package] = dest / "package"
            data = (unpacked[asset.package] / asset.path).read_bytes()
            modified = False
            if asset.dest.endswith("fontawesome/css/all.min.css"):
                data, n = _TTF.subn("", data.decode())
                data, modified = data.encode(), n > 0
            out = ASSETS_DIR / asset.dest
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
            pkg = asset.package.rsplit("@", 1)[0]
            manifest.append({"file": asset.dest, "package": asset.package, "path": asset.path,
                             "sha256": hashlib.sha256(data).hexdigest(), "licence": LICENCES[pkg],
                             "modified": "ttf font sources removed" if modified else None,
                             "replaces": list(asset.urls)})
    (ASSETS_DIR / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"vendored {len(manifest)} files into {ASSETS_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
