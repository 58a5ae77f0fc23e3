"""The two backends of the real model: ONNX Runtime (default) must give torch's vectors, its export is
cached, answering does not import torch, a model it cannot run falls back to torch, int8 is kept apart."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from rag import store
from rag.config import Settings, from_env
from rag.embedding import OnnxEmbedder, SentenceTransformerEmbedder, make_embedder, resolve_model
from rag.engine import Engine
from rag.indexing import build
from rag.sources import load_all

from .conftest import ROOT, SOURCES

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def torch_embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.fixture(scope="module")
def onnx_embedder() -> OnnxEmbedder:
    return OnnxEmbedder()


def source_texts() -> list[str]:
    docs, _ = load_all([SOURCES])
    sentences = [s for d in docs for s in d.text.split("\n") if s.strip()]
    return [*sentences, docs[0].text[:1500], "?", "é 漢字 🙂", "a " * 400]


def test_onnx_gives_the_same_vectors_as_torch(onnx_embedder, torch_embedder):
    texts = source_texts()
    a, b = onnx_embedder.encode(texts), torch_embedder.encode(texts)
    assert a.shape == b.shape == (len(texts), 384) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    assert (a * b).sum(axis=1).min() > 0.9999
    assert onnx_embedder.backend == "onnx" and onnx_embedder.name == torch_embedder.name


def test_onnx_and_torch_agree_on_what_fits(onnx_embedder, torch_embedder):
    # around the model's 256 word pieces ([CLS] and [SEP] included): both must draw the line in one place
    for n in (252, 253, 254, 255, 256, 257):
        text = "strategy " * n
        assert onnx_embedder.fits(text) == torch_embedder.fits(text), n
    assert onnx_embedder.fits("strategy " * 254) and not onnx_embedder.fits("strategy " * 255)
    assert onnx_embedder.max_tokens == torch_embedder.max_tokens == 256


def test_the_export_is_made_once_and_reused(onnx_embedder, tmp_path):
    from rag.onnx_backend import exported

    onnx_embedder.warm_up()
    folder = exported(resolve_model(onnx_embedder.model_name), onnx_embedder.cache_dir)
    before = (folder / "model.onnx").stat().st_mtime_ns
    again = exported(resolve_model(onnx_embedder.model_name), onnx_embedder.cache_dir)
    assert again == folder and (folder / "model.onnx").stat().st_mtime_ns == before
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["probe_cosine_min"] > 0.9999 and not meta["int8"]


def test_answering_on_onnx_never_imports_torch(tmp_path, onnx_embedder):
    onnx_embedder.warm_up()  # the export (which needs torch) is done; a fresh process only runs it
    build([SOURCES], Settings(index_dir=str(tmp_path / "ix")), onnx_embedder)
    code = ("import sys; from rag.config import Settings; from rag.engine import Engine; "
            f"e = Engine(Settings(index_dir={str(tmp_path / 'ix')!r})); "
            "a = e.ask('Who announced the strategy?'); "
            "print(a.abstained, 'Blinken' in a.answer, 'torch' in sys.modules, 'sentence_transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True", "False", "False"]


def test_a_model_onnx_cannot_run_falls_back_to_torch(tmp_path, capsys):
    model = tmp_path / "cls-model"
    shutil.copytree(resolve_model("all-MiniLM-L6-v2"), model)
    config = model / "1_Pooling" / "config.json"
    pooling = json.loads(config.read_text())
    pooling.update({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False, "pooling_mode": "cls"})
    config.write_text(json.dumps(pooling))
    embedder = OnnxEmbedder(str(model), cache_dir=tmp_path / "cache")
    vectors = embedder.encode(["digital solidarity", "cyber diplomacy"])
    assert embedder.backend.startswith("torch")
    err = capsys.readouterr().err
    assert "ONNX backend is unavailable" in err and "mean-pooled" in err
    reference = SentenceTransformerEmbedder(str(model)).encode(["digital solidarity", "cyber diplomacy"])
    assert np.allclose(vectors, reference, atol=1e-6)
    assert not list((tmp_path / "cache" / "onnx").glob("*/meta.json"))  # nothing half-made is cached


def test_int8_is_opt_in_and_kept_apart(tmp_path, onnx_embedder):
    int8 = OnnxEmbedder(int8=True, cache_dir=onnx_embedder.cache_dir)
    texts = source_texts()[:20]
    a, b = int8.encode(texts), onnx_embedder.encode(texts)
    cosine = (a * b).sum(axis=1)
    assert cosine.min() > 0.85 and cosine.min() < 0.9999  # close, but not the same vectors
    assert int8.name == "all-MiniLM-L6-v2+int8" and int8.backend == "onnx-int8"
    build([SOURCES], Settings(index_dir=str(tmp_path / "ix")), onnx_embedder)
    with pytest.raises(store.IndexLoadError, match="built with model 'all-MiniLM-L6-v2'") as refused:
        Engine(Settings(index_dir=str(tmp_path / "ix")), int8).ask("Who announced the strategy?")
    # the hint names flags that work: the int8 variant is a backend, not a model folder
    assert "--model all-MiniLM-L6-v2 --backend onnx-int8," in str(refused.value)
    assert str(refused.value).endswith("or ask with --model all-MiniLM-L6-v2")


def test_the_backend_is_a_setting():
    assert Settings().embedding_backend == "onnx"
    assert isinstance(make_embedder(Settings()), OnnxEmbedder)
    assert isinstance(make_embedder(from_env({"RAG_EMBEDDING_BACKEND": "torch"})), SentenceTransformerEmbedder)
    assert make_embedder(Settings(embedding_backend="onnx-int8")).name.endswith("+int8")
    with pytest.raises(ValueError, match="not one of onnx, torch, onnx-int8"):
        make_embedder(Settings(embedding_backend="gpu"))


def test_the_engine_keeps_blas_and_faiss_on_one_thread(tmp_path):
    # measured: OpenBLAS's spinning threads fight ONNX Runtime's; two of each doubled a question's time
    from threadpoolctl import threadpool_info

    Engine(Settings(index_dir=str(tmp_path / "none")))
    blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    assert blas and set(blas) == {1}
    import faiss

    assert faiss.omp_get_max_threads() == 1
