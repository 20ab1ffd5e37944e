"""The fast encoder mode end to end on a small project: suggest with --encoder onnx, the run
records the mode, the cache keeps the two modes' vectors apart, and the same input gives the
same output within a mode. Real model, real export, real ONNX Runtime."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from nlp_theming.cli import main
from nlp_theming.embed import Embedder, onnx_folder, resolve_model, user_model_dir
from nlp_theming.onnx_encoder import MODE_SUFFIX, is_exported, onnx_available, resolve_encoder
from tests.helpers.paths import CORPUS

needs_onnx = pytest.mark.skipif(
    not onnx_available(), reason="onnxruntime and onnx are not installed: pip install 'nlp-theming[onnx]'"
)
TRANSCRIPTS = ("A-02.txt", "C-01.txt")


def test_auto_follows_what_is_installed_and_a_bad_mode_is_one_clear_error() -> None:
    assert resolve_encoder("auto") == ("onnx" if onnx_available() else "torch")
    assert resolve_encoder("TORCH") == "torch"
    with pytest.raises(ValueError, match="unknown encoder 'fast'; choose one of auto, torch, onnx"):
        resolve_encoder("fast")
    # a run's recorded model id names its mode, whatever is asked
    assert Embedder("all-MiniLM-L6-v2" + MODE_SUFFIX, encoder="torch").mode == "onnx"
    assert Embedder(encoder="torch").model_id == resolve_model("all-MiniLM-L6-v2")[0]


def _project(tmp_path: Path, name: str) -> Path:
    files = tmp_path / f"{name}-files"
    files.mkdir()
    for t in TRANSCRIPTS:
        shutil.copy(CORPUS / "transcripts" / t, files / t)
    project = tmp_path / name
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(project)]).exit_code == 0
    assert runner.invoke(main, ["ingest", str(project), str(files)]).exit_code == 0
    assert runner.invoke(main, ["codebook", str(project), str(CORPUS / "codebook.csv")]).exit_code == 0
    return project


def _suggest(project: Path, encoder: str) -> pd.DataFrame:
    result = CliRunner().invoke(main, ["suggest", str(project), "--encoder", encoder, "--quiet"])
    assert result.exit_code == 0, result.output
    assert f"encoder {encoder}" in result.output
    with sqlite3.connect(project / "project.db") as con:
        return pd.read_sql_query(
            "SELECT r.model_id, r.params, s.segment_id, s.code, s.score, s.rank FROM suggestions s"
            " JOIN runs r ON r.id = s.run_id WHERE r.id = (SELECT MAX(id) FROM runs) ORDER BY s.segment_id, s.rank",
            con,
        )


@needs_onnx
@pytest.mark.slow
def test_onnx_mode_end_to_end_keyed_by_mode_and_same_input_same_output(tmp_path: Path) -> None:
    import json

    first = _project(tmp_path, "a")
    onnx = _suggest(first, "onnx")
    model_id = onnx.model_id.iat[0]
    assert model_id.endswith(MODE_SUFFIX)  # the run records its mode...
    assert json.loads(onnx.params.iat[0])["encoder"] == "onnx"  # ...in its model and its parameters
    folder = onnx_folder("all-MiniLM-L6-v2")
    assert is_exported(folder) and folder.parent == user_model_dir()  # exported once, kept for the next run
    made = (folder / "model_int8.onnx").stat().st_mtime_ns

    torch = _suggest(first, "torch")
    assert torch.model_id.iat[0] == model_id[: -len(MODE_SUFFIX)]
    with sqlite3.connect(first / "project.db") as con:
        per_model = dict(con.execute("SELECT model_id, COUNT(*) FROM embeddings GROUP BY model_id").fetchall())
        onnx_vectors = Embedder(model_id, con=con).encode(["the rota"])  # from the model: not yet cached
        torch_vectors = Embedder(torch.model_id.iat[0], con=con).encode(["the rota"])
    # the two modes' vectors are kept apart, one per segment each
    assert set(per_model) == {model_id, torch.model_id.iat[0]}
    assert per_model[model_id] == per_model[torch.model_id.iat[0]] > 0
    # int8 vectors are close to the torch ones, not equal
    cosine = float(onnx_vectors[0] @ torch_vectors[0])
    assert 0.9 < cosine < 1.0 - 1e-6

    # same input, same output within a mode: a second project from the same files
    second = _project(tmp_path, "b")
    again = _suggest(second, "onnx")
    pd.testing.assert_frame_equal(onnx.drop(columns=["params"]), again.drop(columns=["params"]))
    assert (folder / "model_int8.onnx").stat().st_mtime_ns == made  # reused, not exported again


def test_onnx_mode_without_onnx_runtime_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if onnx_available():
        pytest.skip("ONNX Runtime is installed: the missing-package message cannot be seen here")
    project = _project(tmp_path, "p")
    result = CliRunner().invoke(main, ["suggest", str(project), "--encoder", "onnx", "--quiet"])
    assert result.exit_code == 1
    assert "--encoder onnx needs onnxruntime and onnx" in result.output


def test_encode_is_deterministic_and_unit_length_in_each_installed_mode() -> None:
    texts = ["We talked about the rota.", "Parking is a nightmare on nights.", "SYNTHETIC: a third text, longer " * 3]
    for mode in ("torch", "onnx") if onnx_available() else ("torch",):
        a = Embedder(encoder=mode).encode(texts)
        b = Embedder(encoder=mode).encode(texts)
        assert np.array_equal(a, b)
        assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
