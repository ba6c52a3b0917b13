"""``sha256`` and ``blake2b`` without loading OpenSSL.

``hashlib`` imports ``_hashlib``, which loads libcrypto and registers its algorithms: about 11 M
instructions of every cold start (a FOLLOWER hit is ~560 M), for digests of a few kilobytes.
CPython's own implementations give the same digests (``_sha2`` since 3.12, ``_sha256`` before;
``_blake2`` is what ``hashlib.blake2b`` is in every build). Falls back to ``hashlib`` where a
build lacks them.
"""

from __future__ import annotations

from typing import Any, Callable


def _builtin(names: tuple[str, ...], attr: str) -> Callable[..., Any]:
    for name in names:
        try:
            return getattr(__import__(name), attr)  # type: ignore[no-any-return]
        except (ImportError, AttributeError):
            continue
    import hashlib

    return getattr(hashlib, attr)  # type: ignore[no-any-return]


sha256: Callable[..., Any] = _builtin(("_sha2", "_sha256"), "sha256")
blake2b: Callable[..., Any] = _builtin(("_blake2",), "blake2b")

__all__ = ["blake2b", "sha256"]
