"""Reading ahead: the next chunk is decoded in a thread while the caller uses this one.

Decoding is mostly pyarrow work, which lets go of the GIL; so on two cores the splitting,
typing and checking of chunk n+1 overlap whatever the caller does with chunk n (mapping it,
encoding it, writing it). One decoded chunk waits at most, so memory grows by one chunk,
not with the file.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar, cast

T = TypeVar("T")

#: Seconds between looks at the stop flag while the consumer has not taken the last item.
_POLL = 0.05
_DONE = object()


class _Failed:
    """An exception of the producer, carried to the consumer to be raised there."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def read_ahead(items: Iterator[T]) -> Generator[T, None, None]:
    """The same items in the same order, each produced while the previous one is used.

    An exception of the producer is raised here, where its item would have come. Closing
    this generator early stops the producer once the item it is making is done, then
    closes it (its clean-up runs in the caller's thread).
    """
    slot: queue.Queue[object] = queue.Queue(maxsize=1)
    stop = threading.Event()
    taken = threading.Event()

    def put(item: object) -> bool:
        # The next item is made only once this one is taken: one item in the caller's
        # hands and one being made, never a third waiting in between.
        taken.clear()
        slot.put(item)
        while not stop.is_set():
            if taken.wait(_POLL):
                return True
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed over: the consumer raises it
            put(_Failed(exc))
            return
        put(_DONE)

    worker = threading.Thread(target=work, name="bridge-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            got = slot.get()
            taken.set()
            if got is _DONE:
                return
            if isinstance(got, _Failed):
                raise got.exc
            yield cast(T, got)
    finally:
        stop.set()
        worker.join()
        close = getattr(items, "close", None)
        if close is not None:
            close()
