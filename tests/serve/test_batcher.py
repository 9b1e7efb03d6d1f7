"""The replica's batcher, on its own: a lone request does not wait, requests that pile up behind a running batch go
together when the model is free, batches keep their size limit and order, gone callers are never run."""

import asyncio

import pytest

from mentalglm.serve.batcher import Batcher


class Model:
    """A `run_batch` that records each batch and, when `hold` is set, waits for `release`."""

    def __init__(self, hold: bool = False):
        self.calls: list[list[str]] = []
        self.hold, self.release, self.started = hold, asyncio.Event(), asyncio.Event()

    async def __call__(self, requests):
        self.calls.append(list(requests))
        self.started.set()
        if self.hold:
            await self.release.wait()
        return [f"answer {r}" for r in requests]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_a_lone_request_runs_at_once_even_with_a_long_wait():
    async def scenario():
        model = Model()
        batcher = Batcher(model, max_size=8, wait_s=60.0)
        assert await batcher.submit("a") == "answer a"  # would take 60 s if it lingered; wait_for allows 10
        assert await batcher.submit("b") == "answer b"
        return model, batcher

    model, batcher = run(scenario())
    assert model.calls == [["a"], ["b"]]
    assert batcher.counts == {"calls": 2, "requests": 2, "largest": 1, "sent_at_once": 2}


async def _behind_a_running_batch(max_size: int, later: str, before_release=None):
    """Submit "a"; while it runs, submit each of `later`; call `before_release(their futures)`; let the model go.

    Returns:
        (model, batcher, the futures of "a" and of `later`, all settled).
    """
    model = Model(hold=True)
    batcher = Batcher(model, max_size=max_size, wait_s=0.0)
    first = asyncio.ensure_future(batcher.submit("a"))
    await model.started.wait()
    rest = [asyncio.ensure_future(batcher.submit(x)) for x in later]
    await asyncio.sleep(0.05)  # they all arrive while "a" runs
    if before_release:
        before_release(rest)
    model.hold = False
    model.release.set()
    await asyncio.gather(first, *rest, return_exceptions=True)
    return model, batcher, [first, *rest]


def test_requests_that_pile_up_behind_a_batch_go_together_when_the_model_is_free():
    model, batcher, futures = run(_behind_a_running_batch(4, "bcdefg"))
    assert model.calls == [["a"], ["b", "c", "d", "e"], ["f", "g"]]  # full batches, in arrival order
    assert [f.result() for f in futures] == [f"answer {x}" for x in "abcdefg"]
    assert batcher.counts["sent_at_once"] == 1 and batcher.counts["largest"] == 4


def test_after_a_larger_batch_the_first_client_back_waits_for_the_others():
    async def scenario():
        model = Model()
        batcher = Batcher(model, max_size=8, wait_s=2.0)
        first = [asyncio.ensure_future(batcher.submit(x)) for x in "abc"]  # all queued before the first batch
        for f in first:
            await f
        back = asyncio.ensure_future(batcher.submit("d"))  # the batcher is idle, but its last batch had three
        await asyncio.sleep(0.05)
        late = asyncio.ensure_future(batcher.submit("e"))
        return model, batcher, [await back, await late]

    model, batcher, answers = run(scenario())
    assert model.calls == [["a", "b", "c"], ["d", "e"]] and answers == ["answer d", "answer e"]
    assert batcher.counts["sent_at_once"] == 3  # the first batch went without lingering; "d" lingered


def test_a_free_model_goes_as_soon_as_the_clients_of_its_last_batch_are_back():
    async def scenario():
        model = Model()
        batcher = Batcher(model, max_size=8, wait_s=5.0)
        for f in [asyncio.ensure_future(batcher.submit(x)) for x in "abc"]:
            await f
        loop = asyncio.get_running_loop()
        start = loop.time()
        back = [asyncio.ensure_future(batcher.submit(x)) for x in "def"]  # the three clients, back
        answers = [await b for b in back]
        return model, answers, loop.time() - start

    model, answers, took = run(scenario())
    # three were expected back: the batch went with them, not after wait_s (5 s), though it had room for eight
    assert model.calls == [["a", "b", "c"], ["d", "e", "f"]] and answers == ["answer d", "answer e", "answer f"]
    assert took < 1.0


def test_cohorts_merge_the_clients_of_the_batch_that_ended_join_those_that_waited_behind_it():
    async def scenario():
        model = Model(hold=True)
        batcher = Batcher(model, max_size=8, wait_s=5.0)
        cohort_a = [asyncio.ensure_future(batcher.submit(x)) for x in "ab"]
        await model.started.wait()
        cohort_b = [asyncio.ensure_future(batcher.submit(x)) for x in "cd"]  # wait behind the running batch
        await asyncio.sleep(0.05)
        model.hold = False
        model.release.set()
        for f in cohort_a:
            await f
        await asyncio.sleep(0.05)  # the clients of the first batch take a moment to come back
        start = asyncio.get_running_loop().time()
        again = [asyncio.ensure_future(batcher.submit(x)) for x in "ef"]
        answers = [await f for f in cohort_b + again]
        return model, answers, asyncio.get_running_loop().time() - start

    model, answers, took = run(scenario())
    # without lingering for them, "c d" would run alone and "e f" would wait behind it: two half-full batches
    assert model.calls == [["a", "b"], ["c", "d", "e", "f"]]
    assert answers == [f"answer {x}" for x in "cdef"]
    assert took < 1.0  # four were expected (two back, two waiting): the batch went when they were there


def test_with_wait_when_idle_a_burst_shares_one_batch():
    async def scenario():
        model = Model()
        batcher = Batcher(model, max_size=8, wait_s=0.5, wait_when_idle=True)
        burst = [asyncio.ensure_future(batcher.submit(x)) for x in "abc"]
        return model, batcher, [await b for b in burst]

    model, batcher, answers = run(scenario())
    assert model.calls == [["a", "b", "c"]] and batcher.counts["sent_at_once"] == 0


def test_a_caller_that_is_gone_is_never_run():
    model, _, (first, gone, kept) = run(_behind_a_running_batch(4, "gk", lambda rest: rest[0].cancel()))
    assert model.calls == [["a"], ["k"]] and gone.cancelled()
    assert (first.result(), kept.result()) == ("answer a", "answer k")


def test_a_batch_that_raises_answers_every_request_with_the_error():
    async def boom(requests):
        raise RuntimeError("model broke")

    async def scenario():
        batcher = Batcher(boom, max_size=4, wait_s=0.0)
        return await batcher.submit("a")

    result = run(scenario())
    assert isinstance(result, RuntimeError) and str(result) == "model broke"


@pytest.mark.parametrize("max_size", [1, 3])
def test_batches_never_exceed_max_size(max_size):
    model, _, _ = run(_behind_a_running_batch(max_size, "bcdefgh"))
    assert max(len(c) for c in model.calls) == max_size
    assert [x for c in model.calls for x in c] == list("abcdefgh")
