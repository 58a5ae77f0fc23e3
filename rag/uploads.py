"""Uploads into the sources folder, then a rebuild: checked, staged, and undone unless the build publishes.

An upload only ever adds files. A name already taken is saved as ``name (2).txt``; an empty file, a type
the build does not read, a file over ``max_upload_mb``, or an upload over ``max_upload_total_mb`` or
``max_upload_files`` is refused with the reason before anything is saved. Replacing or removing a
document is a separate call (``replace``, ``remove``) that moves the previous version into ``.versions/``
inside the folder; the build walks past dot-folders, so kept versions are never indexed.

Every change runs through ``rag.staging.transaction``: staged first, placed only once no other build
holds the lock, and undone if the build does not publish: a build that cannot take the lock, a full
disk, a failed build leave the folder exactly as it was.

A rebuild reads every folder the index was built from (its manifest's ``roots``) plus the upload folder.
See docs/uploads.md.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from . import store
from .config import Settings
from .embedding import Embedder
from .sources import SUPPORTED, walk
from .staging import (
    BUSY,
    MB,
    STAGING,
    VERSIONS,
    Progress,
    Undo,
    check_lock,
    copy_new,
    keep,
    numbered,
    place,
    transaction,
)
from .types import BuildReport

__all__ = ["BUSY", "STAGING", "VERSIONS", "Limits", "Outcome", "Progress", "Saved", "add", "check", "documents",
           "indexed_roots", "numbered", "rebuild_roots", "remove", "replace", "safe_filename"]


@dataclass(frozen=True)
class Limits:
    file_bytes: int
    total_bytes: int
    files: int

    @classmethod
    def of(cls, s: Settings) -> Limits:
        return cls(int(s.max_upload_mb * MB), int(s.max_upload_total_mb * MB), s.max_upload_files)


class Saved(NamedTuple):
    uploaded: str  # the name it was uploaded under
    name: str  # the name it was saved under
    wanted: str  # the clean name tried first: when it differs from ``name``, that one was taken


@dataclass
class Outcome:
    """What an upload, replace or remove did: the build report, or the error that stopped it (and then
    the folder is as it was)."""

    report: BuildReport | None = None
    saved: list[Saved] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)  # (document, where its previous version is)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (uploaded name, why)
    error: str = ""


def safe_filename(name: str) -> str | None:
    """A file name that stays inside the folder it is saved in, or None if nothing usable is left.

    >>> safe_filename("../../etc/passwd.md"), safe_filename("..\\\\a b/.hidden.txt"), safe_filename("x.exe")
    ('passwd.md', 'hidden.txt', None)
    """
    base = re.split(r"[/\\]", unicodedata.normalize("NFKC", name))[-1]
    base = re.sub(r"[^\w.\- ]", "_", base).strip().lstrip(".").strip()
    base = re.sub(r"\.{2,}", ".", base)
    stem, ext = os.path.splitext(base)
    if not stem or ext.lower() not in SUPPORTED:
        return None
    return stem[:100] + ext.lower()


def rebuild_roots(indexed: Iterable[str], upload_dir: str | Path) -> list[Path]:
    """What a chat rebuild reads: the folders the index was built from, plus the upload folder; a folder
    inside another one is read through it, not twice.

    >>> [str(p) for p in rebuild_roots(["/data/a", "/data/b", "/data/a"], "/data/a/uploads")]
    ['/data/a', '/data/b']
    >>> [str(p) for p in rebuild_roots([], "/srv/sources")]
    ['/srv/sources']
    """
    roots: list[Path] = []
    for r in [*map(Path, indexed), Path(upload_dir)]:
        r = Path(os.path.abspath(r))
        if not any(r == k or r.is_relative_to(k) for k in roots):
            roots = [k for k in roots if not k.is_relative_to(r)] + [r]
    return roots


def indexed_roots(index_dir: str | Path, fallback: Sequence[str] = ()) -> list[str]:
    """The roots the published index was built from (``fallback``, e.g. the serving index's, if its
    manifest cannot be read)."""
    try:
        return [str(r) for r in store.read_manifest(index_dir).get("roots", fallback)]
    except store.IndexLoadError:
        return list(fallback)


def check(paths: Sequence[str | Path], limits: Limits) -> tuple[list[tuple[Path, str]], list[tuple[str, str]], str]:
    """(accepted [(path, safe name)], rejected [(uploaded name, why)], why the whole upload is refused)."""
    if len(paths) > limits.files:
        return [], [], f"{len(paths)} files in one upload; at most {limits.files} (max_upload_files)"
    files = [Path(p) for p in paths]
    sizes: list[int | None] = []
    for p in files:
        try:
            sizes.append(p.stat().st_size)
        except OSError:
            sizes.append(None)
    total = sum(s or 0 for s in sizes)
    if total > limits.total_bytes:
        return [], [], (f"the files are {total / MB:.1f} MB together, over the {limits.total_bytes / MB:.3g} MB "
                        "limit of one upload (max_upload_total_mb)")
    accepted, rejected = [], []
    for p, size in zip(files, sizes):
        name = safe_filename(p.name)
        if name is None:
            rejected.append((p.name, f"unsupported type (use {', '.join(SUPPORTED)})"))
        elif size is None:
            rejected.append((p.name, "the upload cannot be read"))
        elif size > limits.file_bytes:
            rejected.append((p.name, f"larger than {limits.file_bytes / MB:.3g} MB (max_upload_mb)"))
        elif _blank(p):
            rejected.append((p.name, "empty file"))
        else:
            accepted.append((p, name))
    return accepted, rejected, ""


def documents(upload_dir: str | Path) -> list[str]:
    """The files of the upload folder a replace or remove may touch, as paths relative to it."""
    folder = Path(upload_dir).resolve()
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(folder).as_posix() for _, p in walk([folder])
                  if p.suffix.lower() in SUPPORTED and p.is_file() and not p.is_symlink()
                  and p.resolve().is_relative_to(folder))


def add(paths: Sequence[str | Path], upload_dir: str | Path, settings: Settings, embedder: Embedder,
        roots: Sequence[str | Path], progress: Progress | None = None) -> Outcome:
    """Save uploads into ``upload_dir`` under free names and rebuild ``roots``; undone if the build fails."""
    accepted, rejected, refused = check(paths, Limits.of(settings))
    if refused or (paths and not accepted):
        return Outcome(rejected=rejected, error=f"Nothing was added: {refused}." if refused else "Nothing was added.")

    def change(folder: Path, stage: Path, undo: Undo, out: Outcome) -> None:
        staged = [(name, copy_new(path, stage / f"{i}{Path(name).suffix}")) for i, (path, name) in enumerate(accepted)]
        check_lock(settings)
        for (path, _), (name, tmp) in zip(accepted, staged):
            saved, same = place(tmp, folder, name, undo)
            if same:
                out.rejected.append((path.name, f"identical to {saved}, already in the sources folder"))
            else:
                out.saved.append(Saved(path.name, saved, name))

    return transaction(upload_dir, settings, embedder, roots, progress, change, Outcome(rejected=rejected))


def replace(name: str, new: str | Path, upload_dir: str | Path, settings: Settings, embedder: Embedder,
            roots: Sequence[str | Path], progress: Progress | None = None) -> Outcome:
    """Put ``new`` in place of the document ``name``, keeping the previous version in ``.versions/``."""
    problem = _not_a_document(name, upload_dir)
    accepted, rejected, refused = check([new], Limits.of(settings))
    if not problem and accepted and Path(accepted[0][1]).suffix != Path(name).suffix.lower():
        problem = f"the new version must be a {Path(name).suffix} file like the one it replaces"
    if problem or refused or not accepted:
        why = problem or refused or (rejected[0][1] if rejected else "no file")
        return Outcome(error=f"Nothing was replaced: {why}.")

    def change(folder: Path, stage: Path, undo: Undo, out: Outcome) -> None:
        tmp = copy_new(accepted[0][0], stage / f"new{Path(name).suffix}")
        check_lock(settings)
        out.kept.append((name, keep(folder, name, undo)))
        place(tmp, folder, name, undo, exact=True)

    return transaction(upload_dir, settings, embedder, roots, progress, change, Outcome())


def remove(name: str, upload_dir: str | Path, settings: Settings, embedder: Embedder,
           roots: Sequence[str | Path], progress: Progress | None = None) -> Outcome:
    """Take the document ``name`` out of the sources (moved to ``.versions/``) and rebuild."""
    problem = _not_a_document(name, upload_dir)
    if problem:
        return Outcome(error=f"Nothing was removed: {problem}.")

    def change(folder: Path, stage: Path, undo: Undo, out: Outcome) -> None:
        check_lock(settings)
        out.kept.append((name, keep(folder, name, undo)))

    return transaction(upload_dir, settings, embedder, roots, progress, change, Outcome())


def _not_a_document(name: object, upload_dir: str | Path) -> str:
    if not isinstance(name, str) or name not in documents(upload_dir):
        return f"{str(name)[:200]!r} is not a document in the upload folder"
    return ""


def _blank(path: Path) -> bool:
    with open(path, "rb") as f:
        while chunk := f.read(MB):
            if chunk.strip():
                return False
    return True
