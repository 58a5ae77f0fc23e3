"""JSON Lines read one record at a time: a file of records plus an array of their byte offsets.

Opening a table parses nothing; ``table[i]`` parses line ``i`` (memory-mapped, recently used lines
cached). So an index of a million passages opens in milliseconds and only what a question touches
is ever parsed.
"""

from __future__ import annotations

import json
import mmap
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

import numpy as np

from . import integrity

T = TypeVar("T")


def write_records(path: Path, records: Iterable[dict[str, Any]]) -> np.ndarray:
    """Write one JSON object a line; save and return the byte offsets (n + 1 of them)."""
    offsets = [0]
    with open(path, "wb") as f:
        for record in records:
            line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
            f.write(line)
            offsets.append(offsets[-1] + len(line))
    array = np.array(offsets, dtype=np.int64)
    np.save(path.with_suffix(".offsets.npy"), array, allow_pickle=False)
    return array


class Records(Sequence[T], Generic[T]):
    def __init__(self, path: Path, parse: Callable[[dict[str, Any]], T], cache: int = 4096,
                 damaged: Callable[[str], Exception] = ValueError) -> None:
        self.path = path
        self._damaged = damaged
        offsets = path.with_suffix(".offsets.npy")
        self.offsets = integrity.array(offsets, "<i8", 1)  # memory-mapped
        size = path.stat().st_size
        if not len(self.offsets) or int(self.offsets[-1]) != size or int(self.offsets[0]) != 0:
            raise integrity.Damaged(path.name, f"is {size} bytes but {offsets.name} says "
                                               f"{int(self.offsets[-1]) if len(self.offsets) else '?'}")
        integrity.in_range(self.offsets, 0, size + 1, offsets.name, "offset", increasing=True)
        self._parse = parse
        self._file = open(path, "rb")
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        self._cache: OrderedDict[int, T] = OrderedDict()
        self._size = cache
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @overload
    def __getitem__(self, i: int) -> T: ...

    @overload
    def __getitem__(self, i: slice) -> list[T]: ...

    def __getitem__(self, i: int | slice) -> T | list[T]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        with self._lock:
            hit = self._cache.get(i)
            if hit is not None:
                self._cache.move_to_end(i)
                return hit
        raw = self._map[int(self.offsets[i]):int(self.offsets[i + 1])]
        try:
            value = self._parse(json.loads(raw))
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise self._damaged(f"{self.path.name} record {i + 1} is damaged ({type(e).__name__}: {e})") from None
        with self._lock:
            self._cache[i] = value
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return value

    def __iter__(self) -> Iterator[T]:
        return (self[i] for i in range(len(self)))
