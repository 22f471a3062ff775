"""Sphinx extension for the book's self-contained HTML (registered in _config.yml, ``sphinx.local_extensions``).

- Drops duplicate ``<script>`` entries from each page (sphinx-thebe and sphinx-togglebutton add their inline
  configuration twice, once with filename None and once with "", and a second
  ``const THEBE_JS_URL = ...`` is a ``SyntaxError`` in the browser).
- Warns (warning type ``offline``) about any script or stylesheet that would be loaded from the network, so
  the HTML stays usable with no CDN; ``tools/build_book.py`` checks the written pages as well.
"""

from __future__ import annotations

import re

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)
REMOTE = re.compile(r"^(?:https?:)?//", re.IGNORECASE)


def _key(asset) -> tuple:
    filename = getattr(asset, "filename", asset) or ""  # inline scripts: "" or None, the same script
    attributes = getattr(asset, "attributes", {}) or {}
    return (str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items())))


def tidy_assets(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    for name in ("script_files", "css_files"):
        assets = context.get(name)
        if not assets:
            continue
        seen, kept = set(), []
        for asset in assets:
            key = _key(asset)
            if key in seen:
                continue
            seen.add(key)
            kept.append(asset)
            filename = getattr(asset, "filename", asset)
            if filename and REMOTE.match(str(filename)):
                logger.warning("page %s loads %s from the network; vendor it for offline HTML", pagename,
                               filename, type="offline", subtype="remote_asset")
        assets[:] = kept


def setup(app: Sphinx) -> dict:
    # after myst-nb (default priority) has added the widget scripts of the page
    app.connect("html-page-context", tidy_assets, priority=900)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
