"""What the book's chapters use around the package's core.

``settings`` (one typed dataclass of defaults per chapter) and ``profiles`` (what each profile changes), ``kit``
(a chapter's start in one call), ``judges`` (classifiers and pixel neighbours that neither compared model is),
``claims`` (a measured value against its threshold), ``plots``, ``widgets`` and ``panels`` (figures, pickers that work
in static HTML, live views, panels computed for a few examples), ``prepare`` (the quick models made before a build)
and ``report`` (``python -m rrhelpers report``).
"""
