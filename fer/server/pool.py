"""Objects that must never be used by two threads at once, lent to one thread at a time.

OpenCV's `CascadeClassifier.detectMultiScale` and a `cv2.dnn.Net`'s `setInput`/`forward` keep state
inside the object: two threads in one of them corrupt each other's results ("scaleIdx" assertions,
wrong outputs). One cached recogniser serves every viewer of a server, so each call borrows its own
copy from a pool; a copy is made when all are busy, so the pool grows to the most threads that ever
ran at once (a cascade costs ~10 ms and a few MB to make) and never blocks.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class Pool(Generic[T]):
    def __init__(self, make: Callable[[], T]):
        self._make = make
        self._free: queue.SimpleQueue[T] = queue.SimpleQueue()
        self.size = 0  # copies made so far

    def prime(self) -> T:
        """Make one copy now (so a broken factory fails at load time, not on the first frame); returns it."""
        item = self._make()
        self.size += 1
        self._free.put(item)
        return item

    @contextmanager
    def borrow(self) -> Iterator[T]:
        # NOTE: SimpleQueue is thread-safe; a borrowed copy belongs to this thread until it is put back.
        try:
            item = self._free.get_nowait()
        except queue.Empty:
            item = self._make()
            self.size += 1
        try:
            yield item
        finally:
            self._free.put(item)
