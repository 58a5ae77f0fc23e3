import json
import shutil

import pytest

from rag.cli import main
from rag.config import Settings
from rag.indexing import build

from .conftest import DATA


@pytest.fixture
def index(tmp_path, fake_embedder):
    folder = tmp_path / "src"
    shutil.copytree(DATA / "mini", folder)
    s = Settings(index_dir=str(tmp_path / "ix"), chunk_tokens=40, chunk_overlap=10)
    build([folder], s, fake_embedder)
    return s.index_dir


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
    out = capsys.readouterr().out
    assert "(default: hybrid)" in out and "example: rag ask" in out
