"""Changing the sources folder all or nothing: stage, place without replacing, keep versions, undo.

``transaction`` runs one change (``rag.uploads`` adds, replaces, removes) and then the build. The change
first copies what it needs into ``.staging/`` inside the folder (so placing a file is a hard link on the
same disk), then checks that no other build holds the index's lock, then places: a file is created only
under a name nobody holds (never over one), and a file taken away is moved into ``.versions/``. If the
lock is taken, the disk fills up or the build fails, every step is undone and ``.staging/`` removed: the
folder is exactly as it was.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

from . import store
from .builds import BuildBusy, BuildError, build_lock
from .config import Settings
from .embedding import Embedder
from .indexing import Progress, build

if TYPE_CHECKING:
    from .uploads import Outcome

STAGING = ".staging"
VERSIONS = ".versions"
BUSY = "Another build of this index is running (perhaps `rag build`); nothing was saved; try again when it ends."
NO_LINKS = (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK)
MB = 2**20
Change = Callable[[Path, Path, "Undo", "Outcome"], None]  # (folder, staging folder, undo, outcome)
log = logging.getLogger(__name__)


def numbered(name: str, n: int) -> str:
    """The n-th name to try when ``name`` is taken.

    >>> numbered("notes.txt", 1), numbered("notes.txt", 2), numbered("a.b.md", 3)
    ('notes.txt', 'notes (2).txt', 'a.b (3).md')
    """
    stem, ext = os.path.splitext(name)
    return name if n == 1 else f"{stem} ({n}){ext}"


class Undo(list):
    """Steps that reverse what was done to the folder, newest last."""

    def run(self) -> None:
        while self:
            with suppress(OSError):
                self.pop()()


class _Busy(Exception):
    pass


def check_lock(settings: Settings) -> None:
    """Raise ``_Busy`` if another build holds the index's lock: then nothing may be placed."""
    try:
        with build_lock(Path(settings.index_dir)):
            pass
    except BuildBusy:
        raise _Busy from None


def transaction(upload_dir: str | Path, settings: Settings, embedder: Embedder, roots: Sequence[str | Path],
                progress: Progress | None, change: Change, out: Outcome) -> Outcome:
    """Run ``change`` on ``upload_dir`` and rebuild ``roots``; on any failure undo it, and say why in ``out``."""
    folder = Path(upload_dir).resolve()
    gone = [str(r) for r in roots if not Path(r).exists() and Path(r).resolve() != folder]
    if gone:
        out.error = (f"The index was built from '{gone[0]}', which is gone: a rebuild would drop its documents, "
                     "so nothing was saved. Restore it, or rebuild from the folders left with `rag build`.")
        return out
    undo = Undo()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _staging(folder) as stage:
            change(folder, stage, undo, out)
        out.report = build(roots, settings, embedder, progress=progress)
    except (_Busy, BuildBusy):
        undo.run()
        out.error, out.saved, out.kept = BUSY, [], []
    except Exception as e:  # noqa: BLE001 - whatever failed, the folder goes back to how it was
        undo.run()
        why = str(e)
        if not isinstance(e, BuildError | store.IndexLoadError | OSError):  # a bug: keep its traceback
            log.exception("the rebuild failed")
            why = f"{type(e).__name__}: {e}"
        what = "Could not save the files" if isinstance(e, OSError) else "The rebuild failed"
        out.error = f"{what}: {why}; nothing was {'changed' if out.kept else 'saved'}."
        out.saved, out.kept = [], []
    return out


@contextmanager
def _staging(folder: Path) -> Iterator[Path]:
    """A fresh private folder in ``folder/.staging``, removed with ``.staging`` on exit whatever happens."""
    base = folder / STAGING
    base.mkdir(mode=0o700, exist_ok=True)
    for old in base.iterdir():  # left by a server killed mid-upload
        if time.time() - old.lstat().st_mtime > 3600:
            shutil.rmtree(old, ignore_errors=True)
    stage = Path(tempfile.mkdtemp(dir=base))
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        with suppress(OSError):
            base.rmdir()  # only if empty: another upload may be staging


def copy_new(src: Path, dst: Path) -> Path:
    with open(src, "rb") as fin, open(dst, "xb") as fout:
        shutil.copyfileobj(fin, fout)
    os.chmod(dst, 0o644)
    return dst


def place(staged: Path, folder: Path, name: str, undo: Undo, exact: bool = False) -> tuple[str, bool]:
    """Link ``staged`` into ``folder`` as ``name``, or the first free ``name (n)``: (name used, whether an
    identical file was already there under it, in which case nothing is placed). Never replaces a file."""
    for n in range(1, 1000):
        target = folder / (name if exact else numbered(name, n))
        try:
            _link(staged, target)
        except FileExistsError:
            if exact:
                raise
            if target.is_file() and not target.is_symlink() and _same(staged, target):
                return target.name, True
            continue
        undo.append(lambda t=target: t.unlink())
        return target.relative_to(folder).as_posix(), False
    raise OSError(errno.EEXIST, f"no free name for {name} in the sources folder")


def _link(src: Path, dst: Path) -> None:
    """Create ``dst`` with ``src``'s bytes; fails with FileExistsError rather than replace anything."""
    try:
        os.link(src, dst)
    except FileExistsError:
        raise
    except OSError as e:  # no hard links on this file system: an exclusive create, then a copy
        if e.errno not in NO_LINKS:
            raise
        try:
            copy_new(src, dst)
        except FileExistsError:
            raise
        except OSError:
            dst.unlink(missing_ok=True)
            raise


def keep(folder: Path, name: str, undo: Undo) -> str:
    """Move ``folder/name`` into ``.versions/<time>/name``; the path it was kept under."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:4]
    kept = folder / VERSIONS / stamp / name
    made = [d for d in reversed(kept.parents) if d.is_relative_to(folder / VERSIONS) and not d.exists()]
    kept.parent.mkdir(parents=True, exist_ok=True)
    undo.extend(lambda d=d: d.rmdir() for d in made)  # run last, deepest first: only folders made here
    os.rename(folder / name, kept)
    undo.append(lambda: os.rename(kept, folder / name) if not (folder / name).exists() else None)
    return kept.relative_to(folder).as_posix()


def _same(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(MB), fb.read(MB)
            if x != y:
                return False
            if not x:
                return True
