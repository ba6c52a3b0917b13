"""The Textual app: the only package of llmos that imports ``textual``.

``llmos`` with no command calls :func:`llmos_tui.tui.app.run_tui`.
"""
