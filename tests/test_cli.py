import json

import pytest

from rag.cli import main
from rag.config import Settings

from .conftest import mini_index


@pytest.fixture
def index(tmp_path, fake_embedder):
    return mini_index(tmp_path, fake_embedder).index_dir


def test_info_lists_documents(index, capsys):
    assert main(["info", "--index", index]) == 0
    out = capsys.readouterr().out
    assert "3 documents" in out and "plan.md" in out and "fake" in out
    assert main(["info", "--index", index, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_documents"] == 3


@pytest.mark.parametrize("argv, message", [
    (["ask", "hi", "--index", "/nonexistent/ix"], "no index at"),
    (["build", "/nonexistent/folder", "--index", "/tmp/never"], "no such file or folder"),
    (["ask", "hi", "--model", "/no/such/model", "--index", "{index}"], "built with model"),
    (["build", "--chunk-tokens", "10", "--chunk-overlap", "20", "--index", "/tmp/never"], "--chunk-tokens"),
    (["ask", "hi", "--k", "0", "--index", "{index}"], "--k must be"),
    (["train", "--index", "/nonexistent/ix"], "no index at"),
])
def test_user_mistakes_exit_2_with_one_line(index, capsys, argv, message):
    argv = [a.replace("{index}", index) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_bad_environment_setting_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.setenv("RAG_K", "many")
    assert main(["info"]) == 2
    assert "RAG_K" in capsys.readouterr().err


def test_help_shows_defaults_and_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["ask", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert f"(default: {Settings().mode})" in out and "example: rag ask" in out


@pytest.fixture
def legacy_index(index, monkeypatch):
    """The fake-embedder index, asked with the hand-set composer (the learned one needs the real model)."""
    monkeypatch.setenv("RAG_COMPOSER", "legacy")
    monkeypatch.setenv("RAG_MODE", "hybrid")
    return index


def test_ask_within_named_sources(legacy_index, capsys, monkeypatch):
    import rag.engine

    from .conftest import FakeEmbedder

    monkeypatch.setattr(rag.engine, "make_embedder", lambda settings: FakeEmbedder())
    assert main(["ask", "--json", "--index", legacy_index, "--model", "fake", "--source", "plan.md",
                 "--source", "animals.txt", "What does the plan say?"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["scope"] == ["plan.md", "animals.txt"]
    assert {h["source"] for h in answer["retrieved"]} <= {"plan.md", "animals.txt"}
    assert main(["ask", "--index", legacy_index, "--model", "fake", "--source", "nope.md", "hi"]) == 2
    err = capsys.readouterr().err
    assert "no document named 'nope.md'" in err and "birds.html" in err and err.count("\n") == 1


def test_chat_mistakes_exit_2_with_one_line(legacy_index, capsys, monkeypatch):
    import rag.engine

    from .conftest import FakeEmbedder

    monkeypatch.setattr(rag.engine, "make_embedder", lambda settings: FakeEmbedder())
    assert main(["chat", "--index", legacy_index, "--model", "fake", "--source", "nope.md"]) == 2
    assert "no document named 'nope.md'" in capsys.readouterr().err
    assert main(["chat", "--index", legacy_index, "--model", "fake", "--save", "/no/such/folder/c.md"]) == 2
    assert "--save: no folder /no/such/folder" in capsys.readouterr().err


def test_chat_help_names_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["chat", "--help"])
    out = capsys.readouterr().out
    assert "--save FILE.md" in out and "--source NAME" in out and "/sources" in out and "example: rag chat" in out


SERVE_FLAGS = ["--host", "0.0.0.0", "--port", "7999", "--index", "/tmp/ix", "--model", "m", "--backend", "torch",
               "--mode", "bm25", "--k", "3", "--sources", "/tmp/src", "--auth", "ann:pw:x", "--mcp", "--monitoring",
               "--quiet", "--read-only"]


def test_serve_passes_every_option_to_the_server(monkeypatch):
    """Each option of `rag serve` reaches ``ui.serve``: settings for the engine, the rest as arguments
    (tests/test_serving.py checks that `python ui.py` takes the same ones)."""
    import sys
    import types

    seen: list[tuple] = []
    monkeypatch.setitem(sys.modules, "ui", types.SimpleNamespace(serve=lambda *a, **k: seen.append((a, k)) or 0))
    assert main(["serve", *SERVE_FLAGS]) == 0
    (settings, host, port, auth), options = seen[0]
    assert (settings.index_dir, settings.model, settings.embedding_backend, settings.mode, settings.k,
            settings.sources_dir, settings.read_only) == ("/tmp/ix", "m", "torch", "bm25", 3, "/tmp/src", True)
    assert (host, port, auth) == ("0.0.0.0", 7999, ("ann", "pw:x"))
    assert options == {"monitoring": True, "mcp": True, "quiet": True, "prog": "rag"}
    assert main(["serve"]) == 0
    (settings, host, port, auth), options = seen[1]
    assert not settings.read_only and auth is None and not any(v for k, v in options.items() if k != "prog")
    monkeypatch.setenv("RAG_READ_ONLY", "1")
    monkeypatch.setenv("RAG_AUTH", "env:pw")
    assert main(["serve"]) == 0 and seen[2][0][0].read_only and seen[2][0][3] == ("env", "pw")


def test_serve_mistakes_exit_2_with_one_line(monkeypatch, capsys):
    import sys
    import types

    monkeypatch.setitem(sys.modules, "ui", types.SimpleNamespace(serve=lambda *a, **k: 0))
    for argv, message in ((["serve", "--auth", "nopassword"], "--auth takes USER:PASSWORD"),
                          (["serve", "--k", "0"], "--k must be at least 1")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
