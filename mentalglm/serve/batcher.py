"""Dynamic batching of generation requests on one replica, formed when the model is free to take them.

Ray Serve's `@serve.batch` closes a batch `batch_wait_timeout_s` after its first request even while the model is
still busy with the previous one, so under load the requests that pile up behind a running batch are split into
small batches by arrival time. Here a batch is taken when the model becomes free: everything waiting then goes
(up to `max_size`), which under load fills every batch. A model that becomes free lingers up to `wait_s` for the
requests it can expect: the clients of the batch that just ended, who are about to send their next request, plus
those already waiting (at most `max_size`). It goes as soon as they are there. Without that, closed-loop clients
split into cohorts that take turns: half of them wait behind the running batch while the other half is in it, so
every batch is half full and on a CPU a batch of 8 costs about what a batch of 16 does. A request that arrived
while nothing else was waiting or running and after a batch of one goes at once (`wait_when_idle=False`): that is
one client at a time, nobody else is coming, and batching then costs nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Generic, TypeVar

Req = TypeVar("Req")
Res = TypeVar("Res")


class Batcher(Generic[Req, Res]):
    """Collects requests from concurrent callers and runs them in batches through `run_batch`, one at a time.

    Args:
        run_batch: answers a list of requests with a list of results of the same length, in order (an
            Exception in a result's place is that request's failure).
        max_size: most requests per batch.
        wait_s: longest a free model lingers for the requests it expects (those of the last batch, plus those
            waiting when it ended).
        wait_when_idle: linger also for a request that finds the batcher idle.
    """

    def __init__(self, run_batch: Callable[[list[Req]], Awaitable[list[Res | Exception]]], max_size: int,
                 wait_s: float, wait_when_idle: bool = False):
        self.run_batch, self.max_size, self.wait_s, self.wait_when_idle = run_batch, max_size, wait_s, wait_when_idle
        self._waiting: list[tuple[Req, asyncio.Future, bool]] = []  # (request, its future, arrived alone)
        self._arrived = asyncio.Event()
        self._running = False
        self._last_size = 0  # requests in the last batch: how many clients may be about to come back
        self._expected = max_size  # how many requests a free model lingers for: the last batch's, plus those waiting
        self._worker: asyncio.Task | None = None
        self.counts = {"calls": 0, "requests": 0, "largest": 0, "sent_at_once": 0}

    async def submit(self, request: Req) -> Res | Exception:
        """Queue `request` and wait for its result (or its exception, returned in its place)."""
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._serve())
        alone = not self._running and not self._waiting
        future: asyncio.Future = loop.create_future()
        self._waiting.append((request, future, alone))
        self._arrived.set()
        return await future

    def _take(self) -> list[tuple[Req, asyncio.Future, bool]]:
        live = [entry for entry in self._waiting if not entry[1].done()]  # callers gone: never run
        batch, self._waiting = live[: self.max_size], live[self.max_size:]
        return batch

    def _at_once(self) -> bool:
        """Whether the next batch goes without lingering: its first request found the batcher idle after a batch
        of at most one, and `wait_when_idle` is off."""
        return self._waiting[0][2] and self._last_size <= 1 and not self.wait_when_idle

    async def _linger(self) -> None:
        """Wait up to `wait_s` until the requests the batcher expects are waiting, unless the batch goes at once
        (`_at_once`)."""
        if self._at_once():
            return
        deadline = asyncio.get_running_loop().time() + self.wait_s
        while len(self._waiting) < self._expected:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:
                return

    async def _serve(self) -> None:
        while True:
            if not self._waiting:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            at_once = self._at_once()
            await self._linger()
            batch = self._take()
            if not batch:
                continue
            self._running = True
            self.counts["calls"] += 1
            self.counts["requests"] += len(batch)
            self.counts["largest"] = max(self.counts["largest"], len(batch))
            self.counts["sent_at_once"] += len(batch) if at_once else 0
            self._last_size = len(batch)
            try:
                results: list[Any] = await self.run_batch([request for request, _, _ in batch])
            except Exception as exc:  # noqa: BLE001 - every request of the batch gets the failure
                results = [exc] * len(batch)
            finally:
                self._running = False
                waiting = sum(not entry[1].done() for entry in self._waiting)
                self._expected = min(self.max_size, len(batch) + waiting)
            for (_, future, _), result in zip(batch, results):
                if not future.done():
                    future.set_result(result)
