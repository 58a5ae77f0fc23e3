"""Shared fixtures: a fake embedder, the network blocked, the real model and corpora for e2e tests, and the
small indexes tests build (``index_sources``, ``mini_index``, the session's ``sources_index``).

The live chat server is in servers.py; the ways to damage an index in damage.py."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "sources"
SHARED_CORPUS = ROOT.parent / "shared" / "corpus"
DATA = Path(__file__).resolve().parent / "data"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class FakeEmbedder:
    """Bag of hashed words, L2-normalised: texts sharing words are similar. Fast and deterministic."""

    name = "fake"
    dim = 64

    def __init__(self) -> None:
        self.calls: list[int] = []

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                h = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little")
                out[i, h % self.dim] += 1.0
            norm = np.linalg.norm(out[i])
            out[i] = out[i] / norm if norm else out[i]
        return out

    def fits(self, text: str) -> bool:
        return len(text.split()) <= 200

    @property
    def embedded(self) -> int:
        return sum(self.calls)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def real_embedder():
    """The real model on the shipped default backend (ONNX Runtime)."""
    from rag.embedding import make_embedder

    embedder = make_embedder(Settings())
    embedder.warm_up()
    return embedder


@pytest.fixture
def shared_corpus() -> Path:
    if not SHARED_CORPUS.is_dir():
        pytest.skip(f"needs ../shared/corpus beside the project ({SHARED_CORPUS} is absent)")
    return SHARED_CORPUS


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory, real_embedder) -> Settings:
    """sources/ + ../shared/corpus indexed once with the real model, to be read (or copied) and never
    changed: the corpus tests of test_e2e and test_docs share it."""
    if not SHARED_CORPUS.is_dir():
        pytest.skip(f"needs ../shared/corpus beside the project ({SHARED_CORPUS} is absent)")
    from rag.indexing import build

    s = Settings(index_dir=str(tmp_path_factory.mktemp("corpus-index") / "index"))
    build([SOURCES, SHARED_CORPUS], s, real_embedder)
    return s


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# the hand-set retrieval and composer: the learned ones expect the real model's vectors, not the fake's
FAKE_FRIENDLY = {"mode": "hybrid", "composer": "legacy"}


def copy_sources(dest: Path, folders: Sequence[Path] = (), texts: Mapping[str, str] | None = None) -> Path:
    """A writable copy of sources/ at ``dest``, with every file of ``folders`` and the ``texts`` ({name: text})
    added beside them."""
    shutil.copytree(SOURCES, dest)
    for folder in folders:
        for p in folder.iterdir():
            shutil.copy(p, dest / p.name)
    for name, text in (texts or {}).items():
        (dest / name).write_text(text, encoding="utf-8")
    for p in dest.iterdir():
        p.chmod(0o644)
    return dest


def index_sources(root: Path, embedder: Any, folders: Sequence[Path] = (), texts: Mapping[str, str] | None = None,
                  extra_roots: Sequence[Path] = (), **settings: Any) -> Settings:
    """``copy_sources(root / "sources", folders, texts)`` indexed (with ``extra_roots``) into ``root / "index"``:
    the settings (``sources_dir`` is the copy; ``settings`` change the rest)."""
    from rag.indexing import build

    sources = copy_sources(root / "sources", folders, texts)
    s = Settings().replace(index_dir=str(root / "index"), sources_dir=str(sources), **settings)
    build([sources, *extra_roots], s, embedder)
    return s


def mini_index(root: Path, embedder: Any, *folders: Path, **settings: Any) -> Settings:
    """tests/data/mini (animals.txt, birds.html, plan.md: answers you can work out by hand), with each of
    ``folders`` as a subfolder, copied to ``root / "src"`` and indexed in small passages (40 tokens, overlap
    10) into ``root / "ix"``; ``settings`` change the rest."""
    from rag.indexing import build

    folder = root / "src"
    shutil.copytree(DATA / "mini", folder, dirs_exist_ok=True)
    for extra in folders:
        shutil.copytree(extra, folder / extra.name)
    s = Settings(index_dir=str(root / "ix"), chunk_tokens=40, chunk_overlap=10).replace(**settings)
    build([folder], s, embedder)
    return s


@pytest.fixture(scope="session")
def sources_index(tmp_path_factory, real_embedder) -> Settings:
    """sources/ indexed once for the session with the real model and the default settings. Read it, never
    rebuild or damage it: a test that changes an index builds its own."""
    return index_sources(tmp_path_factory.mktemp("sources-index"), real_embedder)


def snapshot(*folders: Path) -> dict[str, str]:
    """Every file (sha256), symlink (its target) and folder under ``folders``: equal snapshots, equal bytes."""
    out = {}
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(folder):
            for name in dirnames + filenames:
                path = Path(dirpath, name)
                key = str(path.relative_to(folder.parent))
                if path.is_symlink():
                    out[key] = "-> " + os.readlink(path)
                elif path.is_file():
                    out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
                else:
                    out[key] = "folder"
    return out


@pytest.fixture(autouse=True)
def block_network(monkeypatch, request):
    """No test reaches beyond this machine: connections to anything but loopback fail."""
    real_connect = socket.socket.connect

    def guarded(self, address):  # noqa: ANN001
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (host.startswith("127.") or host in ("localhost", "::1")
                                          or host.startswith("/")):
            raise RuntimeError(f"network access blocked in tests: {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
