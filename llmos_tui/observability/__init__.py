"""Observability: the append-only event log (``events``), the notification inbox (``inbox``),
the ObservabilityHub with proposals and the activity report (``hub``, ``report``).
Import the submodules; this package imports nothing itself."""
