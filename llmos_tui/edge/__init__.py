"""Portable bundles of traces and crystallized tools (export, verification, import).

The edge runtime (``edge_runtime/`` at the top of the repository) reads the same bundles with the
standard library only; this package is the full system's side of the format.
"""
