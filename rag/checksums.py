"""A sha256 of every file of a build, recorded in its manifest when it is written; ``rag info --verify``
checks them and names the file that no longer matches.

    manifest["checksums"]        {"bm25/data.csc.index.npy": "<sha256>", ..., "sentences.npy": "<sha256>"}
    manifest["manifest_sha256"]  the manifest's own sha256, over its content less this key (``of_manifest``)

Loading never hashes: an index is memory-mapped and may be gigabytes, so ``rag.integrity`` checks its
structure cheaply at every load, and this full check runs only when asked for. Indexes written before
checksums were recorded have neither key (``NotRecorded``).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .integrity import Damaged

KEY, SELF_KEY, MANIFEST = "checksums", "manifest_sha256", "manifest.json"


class NotRecorded(Exception):
    """The build was written before checksums were recorded: there is nothing to verify against."""


def file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def of_manifest(manifest: dict[str, Any]) -> str:
    """The sha256 of a manifest's content (less its own checksum), independent of key order and layout.

    >>> of_manifest({"b": [1, 2], "a": "é"}) == of_manifest({"a": "é", "b": [1, 2], SELF_KEY: "x"})
    True
    >>> of_manifest({"a": 1}) == of_manifest({"a": 2})
    False
    """
    body = {k: v for k, v in manifest.items() if k != SELF_KEY}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode("ascii")).hexdigest()


def record(build_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` with the sha256 of every file already in ``build_dir`` and its own; each file is
    fsynced while it is open for hashing (one pass over what the build just wrote)."""
    sums = {}
    for path in sorted(p for p in build_dir.rglob("*") if p.is_file() and p.name != MANIFEST):
        with open(path, "rb") as fh:
            sums[path.relative_to(build_dir).as_posix()] = hashlib.file_digest(fh, "sha256").hexdigest()
            os.fsync(fh.fileno())
    out = {k: v for k, v in manifest.items() if k not in (KEY, SELF_KEY)}
    out[KEY] = sums
    out[SELF_KEY] = of_manifest(out)
    return out


def verify(build_dir: Path) -> int:
    """Check every file of ``build_dir`` against its manifest; the number of files checked (the manifest
    included). Raises ``Damaged`` naming every file that differs or is missing, ``NotRecorded`` for a
    build written before checksums were recorded."""
    try:
        manifest = json.loads((build_dir / MANIFEST).read_bytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise Damaged(MANIFEST, "is not valid JSON") from None
    if not isinstance(manifest, dict):
        raise Damaged(MANIFEST, "is not a JSON object")
    if KEY not in manifest and SELF_KEY not in manifest:
        raise NotRecorded()
    sums = manifest.get(KEY)
    if not isinstance(sums, dict) or manifest.get(SELF_KEY) != of_manifest(manifest):
        raise Damaged(MANIFEST, "does not match its own checksum")
    root = build_dir.resolve()
    bad = []
    for name, want in sorted(sums.items()):
        path = (build_dir / name).resolve()
        if not path.is_relative_to(root) or path == root:
            raise Damaged(MANIFEST, f"lists a file outside its build: {name}")
        if not path.is_file():
            bad.append(f"{name} (missing)")
        elif file_sha256(path) != want:
            bad.append(name)
    if bad:
        raise Damaged(", ".join(bad), "differ from the sha256 recorded when the index was built" if len(bad) > 1
                      else "differs from the sha256 recorded when the index was built")
    return len(sums) + 1
