"""Micro-batching across concurrent requests, for the inference worker.

The worker runs its requests in threads (Celery's threads pool); each thread hands its images to the batcher of
its model pair and waits. One batcher thread per model pair takes the first waiting request, collects the others
that arrive within `window_s` (or until `max_items` images), runs the model once on all of them and hands each
request its slice. While the model runs, new requests queue up, so under load batches fill without waiting; an
idle worker adds at most the window to a lone request. One thread drives the model: no two batches share a GPU.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from typing import Callable, Hashable, Sequence

RunBatch = Callable[[list], list]
_STOP = object()


class BatcherClosed(RuntimeError):
    """This batcher was dropped from its pool; ask the pool for the current one."""


class MicroBatcher:
    def __init__(self, run: RunBatch, *, window_s: float, max_items: int, name: str = "batcher"):
        self._run, self._window_s, self._max_items = run, window_s, max(1, max_items)
        self._queue: queue.Queue = queue.Queue()
        self._closed, self._lock = False, threading.Lock()
        threading.Thread(target=self._loop, name=name, daemon=True).start()

    def submit(self, items: Sequence) -> list:
        """The results for `items`, in their order, once the batch holding them has run (its error otherwise)."""
        future: Future = Future()
        with self._lock:
            if self._closed:
                raise BatcherClosed
            self._queue.put((list(items), future))
        return future.result()

    def close(self) -> None:
        """Stop the thread once every request queued so far is answered (it lets go of the model then)."""
        with self._lock:
            self._closed = True
            self._queue.put(_STOP)

    def _collect(self) -> tuple[list[tuple[list, Future]], bool]:
        """The requests of the next batch, and whether the batcher was closed behind them."""
        first = self._queue.get()
        if first is _STOP:
            return [], True
        pending, count = [first], len(first[0])
        deadline = time.monotonic() + self._window_s
        while count < self._max_items:
            try:  # what is already queued joins at once; then wait out the rest of the window
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is _STOP:
                return pending, True
            pending.append(item)
            count += len(item[0])
        return pending, False

    def _loop(self) -> None:
        stopped = False
        while not stopped:
            pending, stopped = self._collect()
            if not pending:
                continue
            items = [x for batch, _ in pending for x in batch]
            try:
                results = self._run(items)
                if len(results) != len(items):
                    raise RuntimeError(f"the model answered {len(results)} results for {len(items)} inputs")
            except BaseException as exc:  # every request of the batch gets the error; the loop goes on
                for _, future in pending:
                    future.set_exception(exc)
                continue
            start = 0
            for batch, future in pending:
                future.set_result(results[start:start + len(batch)])
                start += len(batch)


class BatcherPool:
    """One batcher per key (a model pair), built on first use; the least recently used beyond `size` are closed
    (their thread ends once it has answered what it holds, and lets go of the models)."""

    def __init__(self, *, size: int = 2):
        self._size = size
        self._batchers: OrderedDict[Hashable, MicroBatcher] = OrderedDict()
        self._lock = threading.Lock()

    def submit(self, key: Hashable, build: Callable[[], MicroBatcher], items: Sequence) -> list:
        """`items` through the batcher of `key`; one built by `build` when there is none."""
        while True:
            try:
                return self._get(key, build).submit(items)
            except BatcherClosed:  # dropped between the lookup and the submit: the next lookup builds a new one
                continue

    def _get(self, key: Hashable, build: Callable[[], MicroBatcher]) -> MicroBatcher:
        with self._lock:
            if key in self._batchers:
                self._batchers.move_to_end(key)
                return self._batchers[key]
            batcher = self._batchers[key] = build()
            while len(self._batchers) > self._size:
                self._batchers.popitem(last=False)[1].close()
            return batcher
