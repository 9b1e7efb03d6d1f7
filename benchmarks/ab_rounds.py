"""Interleaved A/B rounds and the CPU time of process trees: how every benchmark here compares two sides.

A benchmark that runs side A, then side B, measures the machine as much as the code: on a small shared machine the
same comparison moved by 2x with other load. So each side runs in several short rounds, interleaved A B B A A B ...
(the order flips every pair, so a steady drift of the machine's speed falls on both sides alike), and a ratio is
taken per pair of rounds; the median over the pairs is reported with its min-max.

Beside wall-clock throughput, each round records the CPU time (user + system) of the side's whole process tree: the
benchmark's own process and every process under it (Ray's GCS, raylet, dashboard and agents, workers, replicas),
read with psutil. CPU time counts the work a side does, whatever else runs on the machine, so it shows what a
framework costs; wall-clock throughput shows what a user waits for. Both are printed; each benchmark says which one
its target uses.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence


@dataclass(frozen=True)
class Round:
    """One round of one side: units of work done (tokens, requests, rows), wall seconds, CPU seconds."""

    side: str
    work: float
    wall_s: float
    cpu_s: float

    @property
    def rate(self) -> float:
        return self.work / self.wall_s

    @property
    def cpu_per_unit(self) -> float:
        return self.cpu_s / self.work


class ProcessTree:
    """CPU seconds used by a process and everything under it (`cpu_seconds`), or by that process alone
    (`tree=False`). A process that ends between two readings loses its time unless its parent (in the tree) reaped
    it: then it is in the parent's `children_*` times, which are counted too."""

    def __init__(self, pid: int | None = None, tree: bool = True):
        import psutil

        self.root = psutil.Process(pid or os.getpid())
        self.tree = tree
        self.by_process: dict[str, float] = {}  # CPU seconds per process name, summed over every measured round
        self._names: dict[tuple[int, float], str] = {}

    def _snapshot(self) -> dict[tuple[int, float], float]:
        import psutil

        procs = [self.root] + (self.root.children(recursive=True) if self.tree else [])
        out: dict[tuple[int, float], float] = {}
        for proc in procs:
            try:
                t = proc.cpu_times()
                reaped = (t.children_user + t.children_system) if self.tree else 0.0
                key = (proc.pid, proc.create_time())
                out[key] = t.user + t.system + reaped
                if key not in self._names:
                    self._names[key] = _process_name(proc)
            except psutil.Error:
                continue
        return out

    def measure(self, run: Callable[[], float], side: str) -> Round:
        """Run `run` (it returns the work it did) and return its `Round`."""
        before = self._snapshot()
        start = time.perf_counter()
        work = run()
        wall = time.perf_counter() - start
        after = self._snapshot()
        deltas = {key: value - before.get(key, 0.0) for key, value in after.items()}
        for key, delta in deltas.items():
            name = self._names.get(key, "?")
            self.by_process[name] = self.by_process.get(name, 0.0) + delta
        return Round(side, float(work), wall, sum(deltas.values()))

    def breakdown(self, top: int = 8) -> str:
        """The processes that used the most CPU over the measured rounds, with their share."""
        total = sum(self.by_process.values()) or 1.0
        rows = sorted(self.by_process.items(), key=lambda kv: -kv[1])[:top]
        return "\n".join(f"  {share / total:6.1%}  {name}" for name, share in rows)


def _process_name(proc) -> str:
    """A short name: Ray's process title (ray::RayTrainWorker), else the program and script."""
    cmd = proc.cmdline()
    if not cmd:
        return proc.name()
    if cmd[0].startswith("ray::") or " " not in cmd[0] and len(cmd) == 1:
        return cmd[0].split(" ")[0]
    script = next((os.path.basename(c) for c in cmd[1:] if c.endswith(".py")), "")
    return f"{os.path.basename(cmd[0])} {script}".strip() if proc.pid != os.getpid() else "this process"


def interleave(sides: Mapping[str, tuple[Callable[[], float], ProcessTree]], rounds: int) -> list[Round]:
    """`rounds` rounds of each side, in the order A B, B A, A B, ... (with more sides: A B C, C B A, ...).

    Args:
        sides: {name: (one round's function returning its work, the process tree whose CPU time it is)}.
        rounds: rounds per side (5 or more for a median worth reading).
    """
    order = list(sides.items())
    out: list[Round] = []
    for i in range(rounds):
        for name, (run, tree) in (order if i % 2 == 0 else order[::-1]):
            out.append(tree.measure(run, name))
    return out


@dataclass(frozen=True)
class Ratio:
    """A per-pair ratio: its median, min and max over the pairs."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> "Ratio":
        return cls(statistics.median(values), min(values), max(values))

    def __str__(self) -> str:
        return f"{self.median:.3f} (min {self.low:.3f}, max {self.high:.3f})"


def compare(rounds: Sequence[Round], a: str, b: str) -> tuple[Ratio, Ratio]:
    """(wall-clock ratio, CPU ratio) of side `b` against side `a`, per pair of rounds: b's throughput over a's,
    and a's CPU seconds per unit over b's (above 1: b does the same work for less CPU)."""
    pairs = list(zip([r for r in rounds if r.side == a], [r for r in rounds if r.side == b]))
    wall = [rb.rate / ra.rate for ra, rb in pairs]
    cpu = [ra.cpu_per_unit / rb.cpu_per_unit for ra, rb in pairs]
    return Ratio.of(wall), Ratio.of(cpu)


def side_table(rounds: Sequence[Round], unit: str, per: float = 1000.0) -> str:
    """Per side: rounds, median throughput (units/s) and median CPU seconds per `per` units."""
    lines = [f"{'side':<28}{'rounds':>7}{f'{unit}/s':>14}{f'CPU s / {per:g} {unit}':>24}"]
    for side in dict.fromkeys(r.side for r in rounds):
        mine = [r for r in rounds if r.side == side]
        lines.append(f"{side:<28}{len(mine):>7}{statistics.median(r.rate for r in mine):>14.2f}"
                     f"{statistics.median(r.cpu_per_unit for r in mine) * per:>24.3f}")
    return "\n".join(lines)


def round_table(rounds: Sequence[Round], unit: str, per: float = 1000.0) -> str:
    """Every round in the order it ran: side, work, wall seconds, CPU seconds and CPU seconds per `per` units."""
    lines = [f"{'#':>3} {'side':<28}{unit:>10}{'wall s':>9}{'CPU s':>9}{f'CPU s / {per:g}':>14}"]
    for i, r in enumerate(rounds, 1):
        lines.append(f"{i:>3} {r.side:<28}{r.work:>10g}{r.wall_s:>9.2f}{r.cpu_s:>9.2f}{r.cpu_per_unit * per:>14.3f}")
    return "\n".join(lines)
