"""The inference worker's micro-batcher: concurrent requests share one model batch, each gets its own slice."""

import threading
import time

import pytest

from backend.mlmodels.batching import BatcherPool, MicroBatcher


def wait_for(condition, what: str, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {limit} s for {what}")
        time.sleep(0.01)


class GatedModel:
    """Doubles its inputs; the first batch waits for `release`, so the requests sent meanwhile queue up."""

    def __init__(self):
        self.batches: list[list[int]] = []
        self.release = threading.Event()
        self.started = threading.Event()

    def __call__(self, items):
        self.batches.append(list(items))
        self.started.set()
        self.release.wait(30)
        return [x * 2 for x in items]


def submit_in_threads(batcher, requests):
    answers = {}

    def send(i, items):
        answers[i] = batcher.submit(items)

    threads = [threading.Thread(target=send, args=(i, items)) for i, items in enumerate(requests)]
    return answers, threads


def test_requests_arriving_while_the_model_runs_share_the_next_batch():
    model = GatedModel()
    batcher = MicroBatcher(model, window_s=0.0, max_items=100)
    first, first_threads = submit_in_threads(batcher, [[1, 2]])
    first_threads[0].start()
    assert model.started.wait(30)
    later, threads = submit_in_threads(batcher, [[10], [20, 21], [30]])
    for t in threads:
        t.start()
    wait_for(lambda: batcher._queue.qsize() == 3, "three queued requests")
    model.release.set()
    for t in first_threads + threads:
        t.join(30)
    assert first == {0: [2, 4]}
    assert later == {0: [20], 1: [40, 42], 2: [60]}
    assert model.batches[0] == [1, 2]
    assert sorted(model.batches[1]) == [10, 20, 21, 30]  # one batch for the three requests
    assert len(model.batches) == 2


def test_a_batch_stops_at_max_items_and_the_rest_runs_next():
    model = GatedModel()
    batcher = MicroBatcher(model, window_s=0.0, max_items=3)
    first, first_threads = submit_in_threads(batcher, [[0]])
    first_threads[0].start()
    assert model.started.wait(30)
    later, threads = submit_in_threads(batcher, [[1, 2], [3, 4], [5]])
    for t in threads:
        t.start()
    wait_for(lambda: batcher._queue.qsize() == 3, "three queued requests")
    model.release.set()
    for t in first_threads + threads:
        t.join(30)
    assert [len(b) for b in model.batches] == [1, 4, 1]  # a request is never split: 2 + 2 passes 3, then stops
    assert later == {0: [2, 4], 1: [6, 8], 2: [10]}


def test_a_failing_batch_fails_each_of_its_requests_and_the_batcher_goes_on():
    calls = []

    def model(items):
        calls.append(items)
        if len(calls) == 1:
            raise RuntimeError("CUDA out of memory")
        return items

    batcher = MicroBatcher(model, window_s=0.0, max_items=10)
    with pytest.raises(RuntimeError, match="out of memory"):
        batcher.submit([1])
    assert batcher.submit([7, 8]) == [7, 8]


def test_a_model_answering_the_wrong_count_is_an_error_not_a_misaligned_reply():
    batcher = MicroBatcher(lambda items: items[:-1], window_s=0.0, max_items=10)
    with pytest.raises(RuntimeError, match="1 results for 2 inputs"):
        batcher.submit([1, 2])


def test_the_pool_keeps_one_batcher_per_model_pair_and_closes_the_oldest():
    pool = BatcherPool(size=1)
    built = []

    def build(tag):
        def make():
            batcher = MicroBatcher(lambda items: [f"{tag}:{x}" for x in items], window_s=0.0, max_items=10)
            built.append(batcher)
            return batcher
        return make

    assert pool.submit("a", build("a"), [1]) == ["a:1"]
    assert pool.submit("a", build("a"), [2]) == ["a:2"]
    assert pool.submit("b", build("b"), [3]) == ["b:3"]
    assert len(built) == 2 and built[0]._closed  # "a" dropped: its thread ends and frees its model
    assert pool.submit("a", build("a"), [4]) == ["a:4"]
    assert len(built) == 3
