"""Uploads through the live app's raw routes (issue 12): POST /gradio_api/upload, then
/gradio_api/call/<fn>, as an outside client does.

- An upload never overwrites or deletes a file it did not create: a taken name is saved as
  ``name (2).txt`` and the report says so; an empty file is refused with the reason (finding 1).
- Replacing or removing a document is a separate action that exists only with ``--auth`` and keeps the
  previous version under ``.versions/`` (finding 1).
- A rebuild from the chat rebuilds every folder the index was built from, plus the upload folder, and the
  page says where uploads go (finding 3).
- One upload request and one rebuild are capped in total size and file count, checked before anything
  is saved (finding 5).
- A rebuild refused for the build lock, a full disk while saving, or a failed build leaves the sources
  folder exactly as it was, hidden files included (finding 8).
- A fuzz run: hundreds of random small files in one session never change an original file, never put
  other text under an original's name, and once they are taken out again the original documents answer
  exactly as before.
- End to end, ``python ui.py --sources`` with the real model.

Oversized questions (finding 6) are in test_hostile.py, Gradio's monitoring routes (finding 8) in
test_web_surface.py.
"""

from __future__ import annotations

import errno
import json
import random
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag import staging, uploads
from rag.builds import build_lock
from rag.config import Settings

from .conftest import SOURCES, FakeEmbedder, copy_sources, index_sources, snapshot
from .servers import live_app, ui_process
from .test_serving import FOUR, ZORBLAX_TEXT, call_ask, call_fn, post_json, upload

BLINKEN = "blinken-announces-international-cyber-strategy.txt"
BLINKEN_2 = "blinken-announces-international-cyber-strategy (2).txt"
FORGED = b"Blinken announced that the cyber strategy is cancelled. The four areas of action were abandoned.\n"
QUESTIONS = (FOUR, "Who announced the strategy?", "What is digital solidarity?", "Where was the strategy announced?")
MB = 2**20
AUTH = ("editor", "correct horse battery")


def answers(http: httpx.Client) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """What the fixed questions answer: (answer text, [(source, quote)])."""
    out = {}
    for q in QUESTIONS:
        a = call_ask(http, q)
        out[q] = (a["answer"], [(c["source"], c["quote"]) for c in a["citations"]])
    return out


def rebuild(http: httpx.Client, files: list[dict[str, Any]] | None) -> str:
    """The report HTML of one chat rebuild with ``files`` (FileData from ``upload``)."""
    return call_fn(http, "rebuild", [files])[0]


# --- the rules, without a server ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [
    ("notes.md", "notes.md"),
    ("Report 2024.PDF", "Report 2024.pdf"),
    ("../../etc/passwd.md", "passwd.md"),
    ("..\\..\\windows\\evil.txt", "evil.txt"),
    ("/abs/path/page.html", "page.html"),
    (".hidden.md", "hidden.md"),
    (".versions", None),
    ("...md", None),
    ("a..b.md", "a.b.md"),
    ("bad\x00name<>|.txt", "bad_name___.txt"),
    ("café.md", "café.md"),
    ("program.exe", None),
    ("noext", None),
    ("", None),
    ("..", None),
    ("x" * 300 + ".txt", "x" * 100 + ".txt"),
])
def test_safe_filename(name, expected):
    assert uploads.safe_filename(name) == expected


@pytest.fixture
def folder(tmp_path) -> tuple[Path, Settings]:
    settings = index_sources(tmp_path, FakeEmbedder(), max_upload_mb=0.002, max_upload_total_mb=1,
                             max_upload_files=10)
    return Path(settings.sources_dir), settings


def test_add_keeps_files_inside_the_folder_and_never_writes_through_a_link(folder, tmp_path):
    sources, settings = folder
    inbox, outside = tmp_path / "inbox", tmp_path / "outside.md"
    (inbox / "sub").mkdir(parents=True)
    files = {".secret.md": b"secret", "ok.txt": b"hello", "tool.exe": b"MZ", "big.md": b"x" * 4096,
             "blank.txt": b" \n\t "}
    for name, data in files.items():
        (inbox / name).write_bytes(data)
    (inbox / "sub" / "..evil.md").write_bytes(b"dots")
    outside.write_text("untouched")
    (sources / "link.md").symlink_to(outside)
    (inbox / "link.md").write_bytes(b"through the link")
    paths = [inbox / n for n in files] + [inbox / "sub" / "..evil.md", inbox / "link.md"]
    out = uploads.add(paths, sources, settings, FakeEmbedder(), [sources])
    assert [(s.uploaded, s.name) for s in out.saved] == [(".secret.md", "secret.md"), ("ok.txt", "ok.txt"),
                                                         ("..evil.md", "evil.md"), ("link.md", "link (2).md")]
    why = dict(out.rejected)
    assert sorted(why) == ["big.md", "blank.txt", "tool.exe"]
    assert "unsupported type" in why["tool.exe"] and "larger than" in why["big.md"] and why["blank.txt"] == "empty file"
    assert outside.read_text() == "untouched" and (sources / "link (2).md").read_bytes() == b"through the link"
    assert not list(sources.glob(".*")), "no hidden file or folder is left"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inbox", "index", "outside.md", "sources"]


def test_add_does_not_save_a_second_copy_of_an_identical_file(folder, tmp_path):
    sources, settings = folder
    copy = tmp_path / BLINKEN
    copy.write_bytes((SOURCES / BLINKEN).read_bytes())
    (tmp_path / "fresh.txt").write_text("A fresh note about ferries.")
    out = uploads.add([copy, tmp_path / "fresh.txt"], sources, replace(settings, max_upload_mb=1), FakeEmbedder(),
                      [sources])
    assert out.rejected == [(BLINKEN, f"identical to {BLINKEN}, already in the sources folder")]
    assert [s.name for s in out.saved] == ["fresh.txt"] and not (sources / BLINKEN_2).exists()


@pytest.mark.parametrize(("count", "size", "why"), [
    (11, 10, "11 files in one upload; at most 10"),
    (2, 600_000, "the files are 1.1 MB together, over the 1 MB limit"),
])
def test_add_refuses_an_upload_over_its_limits_as_a_whole(folder, tmp_path, count, size, why):
    sources, settings = folder
    before = snapshot(sources)
    paths = []
    for i in range(count):
        paths.append(tmp_path / f"f{i}.txt")
        paths[-1].write_bytes(b"a" * size)
    out = uploads.add(paths, sources, replace(settings, max_upload_mb=1), FakeEmbedder(), [sources])
    assert why in out.error and out.error.startswith("Nothing was added") and out.report is None
    assert snapshot(sources) == before


@pytest.mark.parametrize("action", ["add", "replace", "remove"])
def test_a_build_that_fails_undoes_the_change(folder, tmp_path, monkeypatch, action):
    sources, settings = folder
    before = snapshot(sources)
    (tmp_path / "new.txt").write_text("A note about ferries.\n")

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003
        raise ValueError("a loader bug")

    monkeypatch.setattr(staging, "build", broken)
    embedder, roots, roomy = FakeEmbedder(), [sources], replace(settings, max_upload_mb=1)
    out = {"add": lambda: uploads.add([tmp_path / "new.txt"], sources, settings, embedder, roots),
           "replace": lambda: uploads.replace(BLINKEN, tmp_path / "new.txt", sources, roomy, embedder, roots),
           "remove": lambda: uploads.remove(BLINKEN, sources, settings, embedder, roots)}[action]()
    assert "ValueError: a loader bug" in out.error and not out.saved and not out.kept, out.error
    assert snapshot(sources) == before, "the folder is exactly as it was, no .versions or .staging left"


def test_replace_and_remove_keep_versions_the_build_never_reads(folder, tmp_path):
    sources, settings = folder
    original = (sources / BLINKEN).read_bytes()
    (tmp_path / "v2.txt").write_text("Blinken announced the strategy at the RSA conference.")
    (tmp_path / "v2.md").write_text("# Wrong type\n")
    embedder = FakeEmbedder()
    bad = uploads.replace(BLINKEN, tmp_path / "v2.md", sources, settings, embedder, [sources])
    assert "must be a .txt file" in bad.error and (sources / BLINKEN).read_bytes() == original
    out = uploads.replace(BLINKEN, tmp_path / "v2.txt", sources, settings, embedder, [sources])
    assert out.report is not None and out.report.changed and not out.report.removed
    (name, kept), = out.kept
    assert name == BLINKEN and kept.startswith(".versions/") and (sources / kept).read_bytes() == original
    out = uploads.remove(BLINKEN, sources, settings, embedder, [sources])
    assert out.report is not None and len(out.report.removed) == 1 and not (sources / BLINKEN).exists()
    assert uploads.documents(sources) == ["state-department-releases-cyberspace-digital-policy-strategy.txt"]
    assert "not a document" in uploads.remove(BLINKEN, sources, settings, embedder, [sources]).error


# --- finding 1: an upload never overwrites or deletes ---------------------------------------------------


def test_an_upload_named_like_a_source_is_saved_beside_it_and_the_original_is_untouched(tmp_path):
    with live_app(tmp_path, FakeEmbedder()) as srv, httpx.Client(base_url=srv.url, timeout=60) as http:
        original = (srv.sources / BLINKEN).read_bytes()
        report = rebuild(http, upload(http, {BLINKEN: FORGED}))
        assert (srv.sources / BLINKEN).read_bytes() == original, "the upload overwrote the source"
        assert (srv.sources / BLINKEN_2).read_bytes() == FORGED
        assert f"Saved <code>{BLINKEN}</code> as <code>{BLINKEN_2}</code>" in report, report
        assert "Changed" not in report and "Removed" not in report and "Added (1)" in report, report
        text = original.decode("utf-8")
        for q in QUESTIONS:  # the forged text is never cited under the original's name
            for c in call_ask(http, q)["citations"]:
                if c["source"] == BLINKEN:
                    assert c["quote"] in text.replace("\r\n", "\n") or c["quote"] in text


def test_an_empty_upload_is_refused_and_empties_nothing(tmp_path):
    with live_app(tmp_path, FakeEmbedder()) as srv, httpx.Client(base_url=srv.url, timeout=60) as http:
        before = snapshot(srv.sources)
        report = rebuild(http, upload(http, {BLINKEN: b""}))
        assert f"Rejected <code>{BLINKEN}</code>: empty file" in report, report
        assert "Removed" not in report and snapshot(srv.sources) == before


def test_two_uploads_with_one_name_in_one_request_are_both_kept(tmp_path):
    with live_app(tmp_path, FakeEmbedder()) as srv, httpx.Client(base_url=srv.url, timeout=60) as http:
        report = rebuild(http, upload(http, [("notes.md", b"# A\n\nThe ferry leaves at nine.\n"),
                                             ("notes.md", b"# B\n\nThe bridge opens at ten.\n")]))
        assert (srv.sources / "notes.md").read_bytes().startswith(b"# A")
        assert (srv.sources / "notes (2).md").read_bytes().startswith(b"# B")
        assert "Added (2)" in report, report


def test_without_auth_there_is_no_way_to_replace_or_remove_a_document(tmp_path):
    with live_app(tmp_path, FakeEmbedder()) as srv, httpx.Client(base_url=srv.url, timeout=60) as http:
        before = snapshot(srv.sources)
        names = {d.get("api_name") for d in srv.app.blocks().config["dependencies"]}
        assert not names & {"replace_document", "remove_document"}
        for fn, data in (("replace_document", [BLINKEN, upload(http, {BLINKEN: FORGED})[0]]),
                         ("remove_document", [BLINKEN])):
            try:
                r = post_json(http, f"/gradio_api/call/{fn}", {"data": data})
            except httpx.TransportError:  # Gradio drops the connection for an unknown function name
                continue
            if r.status_code == 200:  # accepted into the queue: it must end in an error, not a change
                events = http.get(f"/gradio_api/call/{fn}/{r.json()['event_id']}").text
                assert "event: complete" not in events, events[:300]
        assert snapshot(srv.sources) == before


def test_with_auth_replace_and_remove_are_explicit_and_keep_the_previous_version(tmp_path):
    with live_app(tmp_path, FakeEmbedder(), manage=True, auth=[AUTH]) as srv, \
            httpx.Client(base_url=srv.url, timeout=60) as http:
        assert http.post("/login", data={"username": AUTH[0], "password": AUTH[1]}).status_code == 200
        original = (srv.sources / BLINKEN).read_bytes()
        new_text = b"Blinken announced the strategy at the RSA conference in San Francisco in May 2024.\n"
        report = call_fn(http, "replace_document", [BLINKEN, upload(http, {"anything.txt": new_text})[0]])[0]
        assert (srv.sources / BLINKEN).read_bytes() == new_text
        kept = [p for p in (srv.sources / uploads.VERSIONS).rglob(BLINKEN)]
        assert len(kept) == 1 and kept[0].read_bytes() == original
        assert "Changed (1)" in report and "previous version kept" in report, report
        report = call_fn(http, "remove_document", [BLINKEN])[0]
        assert not (srv.sources / BLINKEN).exists() and "Removed (1)" in report, report
        kept = sorted(p.read_bytes() for p in (srv.sources / uploads.VERSIONS).rglob(BLINKEN))
        assert kept == sorted([original, new_text])
        assert all(uploads.VERSIONS not in d.path for d in srv.app.engine.index.documents)
        for bad in ("../ui.py", "/etc/passwd", ".versions", "nothing-here.txt"):  # only files of the folder
            report = call_fn(http, "remove_document", [bad])[0]
            assert "not a document in the upload folder" in report, (bad, report)


# --- finding 3: a chat rebuild keeps every folder the index was built from ------------------------------


def test_a_chat_rebuild_keeps_the_folders_the_index_was_built_from(tmp_path):
    corpus2 = tmp_path / "corpus2"
    corpus2.mkdir()
    (corpus2 / "harbour.md").write_text("# Harbour\n\nThe harbour opens at six every morning.\n")
    with live_app(tmp_path, FakeEmbedder(), extra_roots=[corpus2]) as srv, \
            httpx.Client(base_url=srv.url, timeout=60) as http:
        report = rebuild(http, upload(http, {"zorblax-accord.md": ZORBLAX_TEXT.encode()}))
        assert "Removed" not in report and "Added (1)" in report, report
        sources = {d.source for d in srv.app.engine.index.documents}
        assert {"harbour.md", "zorblax-accord.md", BLINKEN} <= sources
        assert (srv.sources / "zorblax-accord.md").is_file() and not (corpus2 / "zorblax-accord.md").exists()
        page = json.dumps(http.get("/config").json())  # the Add documents tab says where uploads go
        assert str(srv.sources) in page and str(corpus2) in page


def test_a_chat_rebuild_whose_indexed_folder_is_gone_refuses_and_saves_nothing(tmp_path):
    corpus2 = tmp_path / "corpus2"
    corpus2.mkdir()
    (corpus2 / "harbour.md").write_text("# Harbour\n\nThe harbour opens at six every morning.\n")
    with live_app(tmp_path, FakeEmbedder(), extra_roots=[corpus2]) as srv, \
            httpx.Client(base_url=srv.url, timeout=60) as http:
        shutil.rmtree(corpus2)
        before, old = snapshot(srv.sources), srv.app.engine.index.index_id
        report = rebuild(http, upload(http, {"zorblax-accord.md": ZORBLAX_TEXT.encode()}))
        assert str(corpus2) in report and "nothing was saved" in report, report
        assert snapshot(srv.sources) == before and srv.app.engine.index.index_id == old


# --- finding 5: the size of one upload ------------------------------------------------------------------

SMALL = {"max_upload_mb": 1, "max_upload_total_mb": 2, "max_upload_files": 5}


def test_one_upload_request_over_the_total_is_refused_before_gradio_stores_it(tmp_path):
    with live_app(tmp_path, FakeEmbedder(), overrides=SMALL) as srv, \
            httpx.Client(base_url=srv.url, timeout=60) as http:
        part = b"word " * int(0.18 * MB)  # 0.9 MB: each file fits, three do not
        r = http.post("/gradio_api/upload", files=[("files", (f"p{i}.txt", part, "text/plain")) for i in range(3)])
        assert r.status_code == 413, (r.status_code, r.text[:200])
        r = http.post("/gradio_api/upload", files=[("files", ("one.txt", b"x" * (MB + 1), "text/plain"))])
        assert r.status_code == 413, "one file over max_upload_mb"
        assert len(upload(http, [(f"p{i}.txt", part) for i in range(2)])) == 2  # under the total: fine


def test_one_rebuild_over_the_total_or_the_file_count_saves_nothing(tmp_path):
    with live_app(tmp_path, FakeEmbedder(), overrides=SMALL) as srv, \
            httpx.Client(base_url=srv.url, timeout=60) as http:
        before = snapshot(srv.sources)
        part = b"word " * int(0.18 * MB)
        sent = [upload(http, {f"p{i}.txt": part})[0] for i in range(3)]  # three requests, each under the total
        report = rebuild(http, sent)
        assert "together" in report and "over the 2 MB" in report and "Nothing was added" in report, report
        many = upload(http, [(f"n{i}.txt", f"Note {i} about ferries.".encode()) for i in range(6)])
        report = rebuild(http, many)
        assert "6 files" in report and "at most 5" in report, report
        assert snapshot(srv.sources) == before


# --- finding 8: nothing saved when the build cannot run --------------------------------


def test_a_rebuild_refused_for_the_build_lock_saves_nothing(tmp_path):
    with live_app(tmp_path, FakeEmbedder()) as srv, httpx.Client(base_url=srv.url, timeout=60) as http:
        before = snapshot(srv.sources)
        sent = upload(http, {"zorblax-accord.md": ZORBLAX_TEXT.encode()})
        with build_lock(Path(srv.settings.index_dir)):  # as `rag build` would hold it
            report = rebuild(http, sent)
        assert snapshot(srv.sources) == before
        assert "Another build of this index is running" in report and "nothing was saved" in report, report
        report = rebuild(http, sent)  # once the lock is free, the same upload goes in
        assert "Added (1)" in report and (srv.sources / "zorblax-accord.md").is_file(), report


def test_a_full_disk_while_saving_leaves_no_file_behind(tmp_path, monkeypatch):
    with live_app(tmp_path, FakeEmbedder()) as srv, httpx.Client(base_url=srv.url, timeout=60) as http:
        before, old = snapshot(srv.sources), srv.app.engine.index.index_id
        sent = upload(http, {"a.md": b"# A\n\nThe ferry leaves at nine.\n", "b.md": b"x " * 50_000})
        real_copy = shutil.copyfileobj

        def disk_full(src, dst, length=0):  # noqa: ANN001 - shutil's signature
            if str(getattr(dst, "name", "")).startswith(str(srv.sources)) and "b" in Path(src.name).name:
                dst.write(src.read(1000))
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_copy(src, dst, length)

        monkeypatch.setattr(shutil, "copyfileobj", disk_full)
        report = rebuild(http, sent)
        assert snapshot(srv.sources) == before and srv.app.engine.index.index_id == old
        assert "No space left on device" in report and "nothing was saved" in report, report


# --- fuzz: hundreds of random files in one session ------------------------------------------------------

NAMES = [BLINKEN, "state-department-releases-cyberspace-digital-policy-strategy.txt", "notes.md", "a.txt",
         "../../sources/" + BLINKEN, ".hidden.md", "x.exe", "page.html", "doc.pdf", "café ☕.md", "CON.txt",
         " spaced .txt", "a" * 300 + ".md", "new\nline.txt", "back\\slash.htm"]  # Gradio itself refuses ".."


def random_file(rng: random.Random) -> tuple[str, bytes]:
    letters = (chr(rng.choice([rng.randint(0x20, 0x7e), rng.randint(0xa0, 0x2fff)])) for _ in range(rng.randint(1, 20)))
    name = rng.choice(NAMES) if rng.random() < 0.5 else (
        "".join(letters) + rng.choice([".txt", ".md", ".html", ".pdf", ".exe", ""]))
    kind = rng.random()
    if kind < 0.1:
        data = b""
    elif kind < 0.4:
        data = rng.randbytes(rng.randint(1, 3000))
    elif kind < 0.7:
        data = "".join(chr(rng.randint(0x20, 0x2fff)) for _ in range(rng.randint(1, 1500))).encode("utf-8", "replace")
    elif kind < 0.85:
        data = rng.choice([b"<html><body><p>", b"---\ntitle: [x\n---\n", b"%PDF-1.4\n", b"\xff\xfe", b"# T\n\n"])
        data += rng.randbytes(rng.randint(0, 500))
    else:
        data = " ".join(f"Qx{rng.randint(0, 99999)}z." for _ in range(rng.randint(1, 300))).encode()
    return name or "unnamed.txt", data


def test_hundreds_of_random_uploads_leave_the_original_documents_answering_as_before(tmp_path):
    rng = random.Random(20261128)
    with live_app(tmp_path, FakeEmbedder()) as srv, httpx.Client(base_url=srv.url, timeout=120) as http:
        originals = {p.name: p.read_bytes() for p in SOURCES.iterdir()}
        texts = {name: data.decode("utf-8") for name, data in originals.items()}
        before = answers(http)
        t0, sent = time.monotonic(), 0
        for _ in range(4):
            batch = [random_file(rng) for _ in range(80)]
            sent += len(batch)
            report = rebuild(http, upload(http, batch))
            assert "Changed" not in report and "Removed" not in report and "failed" not in report, report[:2000]
            for _, cites in answers(http).values():  # an original's name only ever quotes its own text
                assert all(quote in texts[source] for source, quote in cites if source in texts), cites
        assert sent >= 300 and time.monotonic() - t0 < 120
        saved = [p for p in srv.sources.iterdir() if p.name not in originals]
        assert len(saved) > 100, f"only {len(saved)} of {sent} random files were saved: the fuzz tests little"
        for name, data in originals.items():
            assert (srv.sources / name).read_bytes() == data, f"{name} was changed"
        for p in saved:  # take the uploads out again (more documents rightly move BM25's weights)
            p.unlink()
        report = rebuild(http, None)
        assert "Index rebuilt and in use" in report and "Removed (" in report, report[:500]
        assert answers(http) == before, "the original documents answer differently after the fuzz"


# --- end to end: `python ui.py` with the real model -----------------------------------------------------


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(x for x in status.splitlines() if x.startswith("VmRSS:")).split()[1]) / 1024


@pytest.mark.e2e
def test_the_running_chat_keeps_its_sources_and_refuses_oversized_requests(tmp_path):
    folder = copy_sources(tmp_path / "uploads")
    originals = {p.name: p.read_bytes() for p in folder.iterdir()}
    with ui_process("--index", str(tmp_path / "index"), "--sources", str(folder)) as server:
        assert server.started, server.output()[-2000:]
        assert str(folder) in server.output()  # where uploads go, printed at start
        with httpx.Client(base_url=server.url, timeout=120) as http:
            before = answers(http)
            assert all(cites for _, cites in before.values()), before
            report = rebuild(http, upload(http, {BLINKEN: FORGED, "empty.txt": b""}))
            assert f"Saved <code>{BLINKEN}</code> as <code>{BLINKEN_2}</code>" in report, report
            assert "Rejected <code>empty.txt</code>: empty file" in report and "Removed" not in report, report
            assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name in originals} == originals
            text = originals[BLINKEN].decode("utf-8")
            for _, cites in answers(http).values():  # the forged text is never cited under the original's name
                assert all(quote in text for source, quote in cites if source == BLINKEN), cites
            assert http.get("/monitoring").status_code == 403
            base = rss_mb(server.proc.pid)
            big = json.dumps({"data": ["why " * (5 * MB)]}).encode()  # 20 MB
            for _ in range(5):
                r = http.post("/gradio_api/call/ask", content=big, headers={"content-type": "application/json"})
                assert r.status_code == 413, r.text[:200]
            assert rss_mb(server.proc.pid) - base < 20, "20 MB questions must not be read into the server"
    assert "Monitoring URL" not in server.output()
