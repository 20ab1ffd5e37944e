"""The fast encoder mode: a sentence-transformers model exported to ONNX and quantised to int8.

The export is made here, from the model already on disk (no download), once per model: the
whole sentence-transformers pipeline after tokenisation (transformer, pooling, normalisation)
becomes one ONNX graph, ONNX Runtime's dynamic quantisation turns its weights into int8, and the
tokenizer is saved beside it. Encoding then needs only ``onnxruntime`` and ``tokenizers``.

Dynamic quantisation scales activations per call, so a text's vector depends a little on the
other texts in its batch: the same texts in the same order give the same vectors (the embedding
cache then keeps them), but int8 and torch vectors are never mixed (``MODE_SUFFIX``).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: encoder modes: ``auto`` is onnx when ONNX Runtime is installed, torch otherwise
ENCODERS = ("auto", "torch", "onnx")
#: appended to a model id for vectors made by the int8 ONNX export (the cache key and the run's model)
MODE_SUFFIX = "#onnx-int8"
MODEL_FILE = "model_int8.onnx"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class EncoderUnavailable(RuntimeError):
    """The onnx mode was asked for and ONNX Runtime (or onnx, for the export) is not installed."""


def onnx_available() -> bool:
    """Whether the onnx mode can run here: ONNX Runtime, and onnx for the one-off export."""
    return importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None


def resolve_encoder(encoder: str) -> str:
    """``torch`` or ``onnx`` for a requested mode (``auto`` picks onnx when it is installed)."""
    encoder = (encoder or "auto").lower()
    if encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
    if encoder == "auto":
        return "onnx" if onnx_available() else "torch"
    if encoder == "onnx" and not onnx_available():
        raise EncoderUnavailable(
            "--encoder onnx needs onnxruntime and onnx: pip install 'nlp-theming[onnx]' (or use --encoder torch)"
        )
    return encoder


def split_mode(model: str) -> tuple[str, str | None]:
    """(model without the mode suffix, ``onnx`` when the id carried it, else None)."""
    if model.endswith(MODE_SUFFIX):
        return model[: -len(MODE_SUFFIX)], "onnx"
    return model, None


def is_exported(folder: Path) -> bool:
    return (folder / MODEL_FILE).exists() and (folder / "encoder.json").exists()


def export_quantized(st_model, out: Path) -> Path:
    """Export a loaded SentenceTransformer to ``out`` as an int8 ONNX graph with its tokenizer.

    The folder appears whole or not at all (another process finishing first wins)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    names = [n for n in _INPUTS if n in st_model.tokenizer.model_input_names]

    class Whole(torch.nn.Module):
        """The model after tokenisation, as one function of the token tensors."""

        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            return self.model(dict(zip(names, tensors, strict=True)))["sentence_embedding"]

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        example = st_model.tokenizer(["an example", "a second, longer example sentence"], padding=True,
                                     return_tensors="pt")
        full = staging / "model.onnx"
        axes = {n: {0: "batch", 1: "tokens"} for n in names}
        with torch.no_grad():
            torch.onnx.export(Whole(st_model).eval(), tuple(example[n] for n in names), str(full),
                              input_names=names, output_names=["sentence_embedding"],
                              dynamic_axes={**axes, "sentence_embedding": {0: "batch"}},
                              opset_version=17, dynamo=False)
        # int8 weights per output channel, matrix products only: quantising the embedding tables too
        # (the default) cost 0.04 in mean cosine to the torch vectors on SERDIF units; this costs 0.01
        quantize_dynamic(str(full), str(staging / MODEL_FILE), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
        full.unlink()
        st_model.tokenizer.backend_tokenizer.save(str(staging / "tokenizer.json"))
        meta = {"inputs": names, "max_length": int(st_model.max_seq_length),
                "pad_id": int(st_model.tokenizer.pad_token_id or 0), "pad_token": st_model.tokenizer.pad_token,
                "dimension": int(embedding_dimension(st_model))}
        (staging / "encoder.json").write_text(json.dumps(meta, indent=2))
        if out.exists():
            shutil.rmtree(staging, ignore_errors=True)
        else:
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


class OnnxEncoder:
    """Encode texts with an exported int8 model: L2-normalised float32 vectors."""

    def __init__(self, folder: str | Path, threads: int = 0) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(folder)
        self.meta = json.loads((folder / "encoder.json").read_text())
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=self.meta["max_length"])
        self.tokenizer.enable_padding(pad_id=self.meta["pad_id"], pad_token=self.meta["pad_token"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: ONNX Runtime's default, one per physical core
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Idle worker threads sleep instead of spinning between batches: the same vectors for a fifth
        # less CPU time (tokenising the next batch and the work around the encoder get the cores;
        # on a shared machine, so does everyone else). The graph is optimised fully (the default).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"])

    def get_sentence_embedding_dimension(self) -> int:
        return int(self.meta["dimension"])

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        out = np.zeros((len(texts), self.get_sentence_embedding_dimension()), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            batch = self.tokenizer.encode_batch(list(texts[start : start + batch_size]))
            feed = {
                "input_ids": np.array([e.ids for e in batch], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in batch], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in batch], dtype=np.int64),
            }
            vectors = self.session.run(None, {n: feed[n] for n in self.meta["inputs"]})[0]
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)  # already unit length when the model normalises
            out[start : start + len(batch)] = vectors / np.maximum(norms, 1e-12)
        return out


def embedding_dimension(model: object) -> int:
    """A sentence-transformers model's (or our encoder's) vector size, under the name its version uses
    (``get_embedding_dimension`` since sentence-transformers 6, ``get_sentence_embedding_dimension`` before)."""
    method = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(method())
