import json
import shutil

import numpy as np
import pytest

from rag import builds, store
from rag.builds import BuildBusy, BuildError, build_lock
from rag.config import Settings
from rag.indexing import BuildTooLarge, build

from .badfiles import TRUNCATED_UTF16, html_table, surrogate_pdf
from .conftest import DATA, SOURCES, FakeEmbedder
from .damage import DAMAGES


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "src"
    shutil.copytree(DATA / "mini", folder)
    return folder


def settings_for(tmp_path, **kw) -> Settings:
    return Settings(index_dir=str(tmp_path / "ix"), chunk_tokens=40, chunk_overlap=10, **kw)


def test_build_writes_consistent_files(tmp_path, corpus, fake_embedder):
    s = settings_for(tmp_path)
    report = build([corpus], s, fake_embedder)
    assert sorted(p.split("/")[-1] for p in report.added) == ["animals.txt", "birds.html", "plan.md"]
    ix = store.load_index(s.index_dir)
    m = ix.manifest
    assert m["format_version"] == store.FORMAT_VERSION and m["dim"] == fake_embedder.dim
    assert m["chunk_tokens"] == 40 and m["n_chunks"] == len(ix.chunks) == ix.faiss_index.ntotal
    assert {d["source"] for d in m["documents"]} == {"animals.txt", "birds.html", "plan.md"}
    for c in ix.chunks:
        doc = ix.document(c.doc_id)
        assert doc.text[c.start:c.end] == c.text
    # the sentence table and the chunk sentence ranges agree
    for i, c in enumerate(ix.chunks):
        lo = ix.chunk_sent_lo[i]
        for j, s_ in enumerate(c.sentences):
            assert ix.sentence(lo + j)[1] == s_
    assert np.allclose(np.linalg.norm(ix.sentence_vectors, axis=1), 1.0, atol=1e-5)
    assert not list((tmp_path / "ix" / "builds").glob(".tmp-*"))


def test_rebuild_reembeds_only_what_changed(tmp_path, corpus, fake_embedder):
    s = settings_for(tmp_path)
    build([corpus], s, fake_embedder)
    before = store.load_index(s.index_dir)
    fake_embedder.calls.clear()
    report = build([corpus], s, fake_embedder)
    assert fake_embedder.embedded == 0 and report.n_embedded == 0
    assert len(report.unchanged) == 3 and not report.added
    (corpus / "animals.txt").write_text("Horses gallop across the plains. Foals stand within hours.")
    (corpus / "birds.html").unlink()
    (corpus / "new.txt").write_text("Whales sing long songs in the deep ocean.")
    report = build([corpus], s, fake_embedder)
    assert [p.split("/")[-1] for p in report.changed] == ["animals.txt"]
    assert [p.split("/")[-1] for p in report.removed] == ["birds.html"]
    assert [p.split("/")[-1] for p in report.added] == ["new.txt"]
    assert [p.split("/")[-1] for p in report.unchanged] == ["plan.md"]
    after = store.load_index(s.index_dir)
    texts = [c.text for c in after.chunks]
    assert fake_embedder.embedded == report.n_embedded > 0
    assert fake_embedder.embedded < sum(len(c.sentences) + 1 for c in after.chunks), "plan.md not re-embedded"
    assert not any("Puffins" in t for t in texts) and any("Whales" in t for t in texts)
    plan_before = [c.chunk_id for c in before.chunks if c.text.startswith("The Garden Plan")]
    assert plan_before and plan_before[0] in {c.chunk_id for c in after.chunks}, "unchanged ids stay"
    # reused vectors are the same vectors
    i_old = [c.chunk_id for c in before.chunks].index(plan_before[0])
    i_new = [c.chunk_id for c in after.chunks].index(plan_before[0])
    assert np.allclose(before.faiss_index.reconstruct(i_old), after.faiss_index.reconstruct(i_new))


def test_duplicates_are_indexed_once(tmp_path, corpus, fake_embedder):
    shutil.copy(corpus / "animals.txt", corpus / "animals-copy.txt")
    report = build([corpus], settings_for(tmp_path), fake_embedder)
    assert report.n_documents == 3
    assert any("duplicate of animals" in s.reason for s in report.skipped)


def test_nothing_usable_fails_and_keeps_the_previous_index(tmp_path, corpus, fake_embedder):
    s = settings_for(tmp_path)
    build([corpus], s, fake_embedder)
    first = store.read_manifest(s.index_dir)["index_id"]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.txt").write_text("")
    (bad / "pic.png").write_bytes(b"\x89PNG")
    with pytest.raises(BuildError, match="no readable documents"):
        build([bad], s, fake_embedder)
    assert store.read_manifest(s.index_dir)["index_id"] == first


def test_a_crash_mid_build_leaves_the_old_index_and_is_cleaned_next_time(tmp_path, corpus, fake_embedder):
    s = settings_for(tmp_path)
    build([corpus], s, fake_embedder)
    first = store.read_manifest(s.index_dir)["index_id"]

    class Boom(Exception):
        pass

    def explode(*a, **k):
        raise Boom

    (corpus / "more.txt").write_text("Otters hold hands while sleeping.")
    original = builds.publish
    builds.publish = explode  # dies after writing every file, before the swap
    try:
        with pytest.raises(Boom):
            build([corpus], s, fake_embedder)
    finally:
        builds.publish = original
    assert store.read_manifest(s.index_dir)["index_id"] == first
    assert store.load_index(s.index_dir).manifest["n_documents"] == 3
    build([corpus], s, fake_embedder)
    folders = [p.name for p in (tmp_path / "ix" / "builds").iterdir()]
    assert len(folders) <= 2 and not [b for b in folders if b.startswith(".tmp-")]


def test_one_build_at_a_time(tmp_path, corpus, fake_embedder):
    s = settings_for(tmp_path)
    with build_lock(tmp_path / "ix"):
        with pytest.raises(BuildBusy):
            build([corpus], s, fake_embedder)


def test_changed_chunk_settings_rebuild_everything(tmp_path, corpus, fake_embedder):
    build([corpus], settings_for(tmp_path), fake_embedder)
    fake_embedder.calls.clear()
    build([corpus], settings_for(tmp_path).replace(chunk_tokens=60), fake_embedder)
    assert fake_embedder.embedded > 0
    assert store.read_manifest(tmp_path / "ix")["chunk_tokens"] == 60


@pytest.mark.parametrize("damage, message", [
    ("truncated FAISS file", "FAISS file"),
    ("missing manifest", "no manifest.json"),
    ("invalid manifest", "not valid JSON"),
    ("a passage record missing", "chunks.jsonl is"),
    ("fewer sentence vectors than sentences", "inconsistent: sentence_vectors.npy holds"),
    ("sentence vectors missing", "missing"),
])
def test_broken_index_files_give_a_clear_message(tmp_path, corpus, fake_embedder, damage, message):
    s = settings_for(tmp_path)
    build([corpus], s, fake_embedder)
    DAMAGES[damage](store.current_build(s.index_dir))
    with pytest.raises(store.IndexLoadError, match=message) as err:
        store.load_index(s.index_dir)
    assert "rag build" in str(err.value)


def test_model_or_dimension_mismatch_is_named(tmp_path, corpus, fake_embedder):
    s = settings_for(tmp_path)
    build([corpus], s, fake_embedder)
    with pytest.raises(store.IndexLoadError, match="built with model"):
        store.load_index(s.index_dir, model="other-model")
    with pytest.raises(store.IndexLoadError, match="dimension"):
        store.load_index(s.index_dir, dim=384)
    manifest = json.loads((store.current_build(s.index_dir) / "manifest.json").read_text())
    assert manifest["model"] == fake_embedder.name


def test_embedding_reports_progress_and_keeps_the_order(fake_embedder):
    from rag.indexing import embed

    texts = [f"text number {i} " + "x" * (10 - i) for i in range(10)]
    seen: list[int] = []
    vectors = embed(fake_embedder, texts, seen.append, step=3)
    assert (vectors == fake_embedder.encode(texts)).all()
    assert seen == [3, 6, 9, 10]


def test_large_indexes_use_hnsw_and_still_find_the_passage(tmp_path, corpus, fake_embedder):
    s = settings_for(tmp_path, hnsw_above=2)
    build([corpus], s, fake_embedder)
    ix = store.load_index(s.index_dir)
    assert ix.manifest["faiss"] == "hnsw" and hasattr(ix.faiss_index, "hnsw")
    from rag.engine import Engine

    assert "albatross" in Engine(s, fake_embedder).ask("Which bird has the longest wingspan?").answer
    fake_embedder.calls.clear()
    build([corpus], s, fake_embedder)  # vectors are reused from the HNSW index too
    assert fake_embedder.embedded == 0


# --- one file never stops a build; limits on what a build embeds (issue 12, findings 2 and 5) -----------

class PoisonFits(FakeEmbedder):
    """An embedder whose tokenizer rejects one document's text, as the real one rejects odd input."""

    def fits(self, text: str) -> bool:
        if "poison" in text:
            raise TypeError("TextInputSequence must be str")
        return super().fits(text)


def test_a_file_that_fails_to_read_or_chunk_is_skipped_and_the_build_goes_on(tmp_path, corpus):
    (corpus / "bom.txt").write_bytes(TRUNCATED_UTF16)
    (corpus / "odd.pdf").write_bytes(surrogate_pdf())
    (corpus / "poison.txt").write_text("This poison sentence breaks the tokenizer.")
    s = settings_for(tmp_path)
    for _ in range(2):  # and every later build too
        report = build([corpus], s, PoisonFits())
        reasons = {p.path.split("/")[-1]: p.reason for p in report.skipped}
        assert set(reasons) == {"bom.txt", "poison.txt"}, reasons
        assert "UTF-16" in reasons["bom.txt"] and "TypeError" in reasons["poison.txt"]
        assert report.n_documents == 4  # the three of the corpus and odd.pdf
    ix = store.load_index(s.index_dir)
    assert any("Ships sail at dawn." in c.text for c in ix.chunks)
    assert {x["path"].split("/")[-1] for x in ix.manifest["skipped"]} == {"bom.txt", "poison.txt"}


def test_a_build_that_would_embed_too_many_texts_is_refused_before_embedding(tmp_path, corpus, fake_embedder):
    s = settings_for(tmp_path)
    build([corpus], s, fake_embedder)
    first = store.read_manifest(s.index_dir)["index_id"]
    (corpus / "tiny.txt").write_text("Ab cd. " * 400)  # 400 two-word sentences
    fake_embedder.calls.clear()
    with pytest.raises(BuildError, match=r"would embed (at least )?[\d,]+ passages and sentences.*limit is 300") as err:
        build([corpus], s.replace(max_embed_texts=300), fake_embedder)
    assert "tiny.txt" in str(err.value) and "RAG_MAX_EMBED_TEXTS" in str(err.value)
    assert "previous index is unchanged" in str(err.value)
    assert fake_embedder.calls == [], "refused before embedding anything"
    assert store.read_manifest(s.index_dir)["index_id"] == first
    with pytest.raises(BuildTooLarge, match=r"would embed 4\d\d passages") as err:  # 400 sentences + passages
        build([corpus], s.replace(max_embed_texts=420), fake_embedder)
    assert err.value.files == {"tiny.txt": err.value.files["tiny.txt"]} and fake_embedder.calls == []
    assert store.read_manifest(s.index_dir)["index_id"] == first
    assert build([corpus], s.replace(max_embed_texts=2000), fake_embedder).n_embedded > 400


def test_extracted_text_over_the_limit_is_a_skip_in_the_report(tmp_path, corpus, fake_embedder):
    (corpus / "table.html").write_text(html_table(1000))
    report = build([corpus], settings_for(tmp_path, max_text_chars=1_000_000), fake_embedder)
    assert [p.path.split("/")[-1] for p in report.skipped] == ["table.html"]
    assert "RAG_MAX_TEXT_CHARS" in report.skipped[0].reason and report.n_documents == 3


@pytest.mark.corpus
def test_the_default_limits_pass_the_real_documents(shared_corpus):
    from rag.sources import read_all

    s = Settings()
    prepared, skipped = read_all([shared_corpus, SOURCES], max_chars=s.max_text_chars)
    assert not skipped and len(prepared) == 14
    n_sentences = sum(len(spans) for _, spans in prepared)
    assert n_sentences * 5 < s.max_embed_texts, "room for 5x the shared corpus and its chunks"


class NaNForOtters(FakeEmbedder):
    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        out = super().encode(texts, progress)
        out[["Otters" in t for t in texts]] = np.nan
        return out


def test_a_document_the_model_embeds_as_nan_is_skipped_and_never_written(tmp_path, corpus):
    (corpus / "otters.txt").write_text("Otters hold hands while sleeping. They float on their backs.")
    s = settings_for(tmp_path)
    report = build([corpus], s, NaNForOtters())
    assert [p.path.split("/")[-1] for p in report.skipped] == ["otters.txt"]
    assert "non-finite" in report.skipped[0].reason
    ix = store.load_index(s.index_dir)
    assert np.isfinite(ix.sentence_vectors).all() and ix.manifest["n_documents"] == 3
    assert np.isfinite(ix.faiss_index.reconstruct_n(0, ix.faiss_index.ntotal)).all()
