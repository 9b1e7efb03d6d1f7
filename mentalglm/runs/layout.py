"""Where a run, and a sweep, keep everything: one object owns every place.

A run named `name` in `storage_path` (a local folder, a shared mount or an object-store URI):

    {storage_path}/{name}/                 the store: Ray Train's checkpoint_step*/ folders, run_fingerprint.json,
                                           final/ (published), and for a sweep tuner/, trials/, best/, sweep.*
    {home}/                                on the driver: metrics.jsonl, tensorboard/, a copy of final/ (and of a
                                           sweep's sweep.csv, sweep.png, best/); home is the store itself for a
                                           local storage_path, else {local_dir}/{name}

A stage of a multi-stage run, and a trial of a sweep, is a run whose storage is its parent's store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mentalglm.runs import storage

FINGERPRINT_FILE = "run_fingerprint.json"


@dataclass(frozen=True)
class RunLayout:
    """Every place of one run (or sweep) named `name` in `storage_path`, with `local_dir` for a URI store."""

    storage_path: str
    name: str
    local_dir: Path = Path("runs")

    @classmethod
    def of(cls, run: object) -> "RunLayout":
        """The layout of a config's `run` section (`storage_path`, `name`, `local_dir`)."""
        return cls(str(run.storage_path), run.name, Path(run.local_dir))  # type: ignore[attr-defined]

    @property
    def remote(self) -> bool:
        """Whether the store is an object-store URI (then the driver keeps copies in `home`)."""
        return storage.is_uri(self.storage_path)

    @property
    def store(self) -> str | Path:
        """`{storage_path}/{name}`: what Ray Train and Tune write to, and where published folders live."""
        return storage.join(self.storage_path, self.name)

    @property
    def home(self) -> Path:
        """The driver's folder of the run: the store itself when it is local."""
        return (self.local_dir if self.remote else Path(self.storage_path)) / self.name

    @property
    def final_location(self) -> str | Path:
        """The published `final/` in the store."""
        return storage.join(self.store, "final")

    @property
    def final_dir(self) -> Path:
        """The driver's copy of `final/` (the same folder as `final_location` for a local store)."""
        return self.home / "final"

    @property
    def fingerprint_location(self) -> str | Path:
        """`run_fingerprint.json` beside the checkpoints."""
        return storage.join(self.store, FINGERPRINT_FILE)

    def child(self, name: str) -> "RunLayout":
        """The layout of a stage or a trial: a run stored under this one's store (and home)."""
        return RunLayout(str(self.store), name, self.local_dir / self.name)

    # a sweep's places
    @property
    def tuner_state(self) -> str | Path:
        """Tune's experiment state, for restoring an interrupted sweep."""
        return storage.join(self.store, "tuner")

    @property
    def trials_location(self) -> str | Path:
        """Where the trials' runs are stored (each a run named by its trial id)."""
        return storage.join(self.store, "trials")

    @property
    def trials_home(self) -> Path:
        """The driver's folder of the trials' runs."""
        return self.home / "trials"

    def trial(self, trial_id: str) -> "RunLayout":
        """The layout of one trial's run."""
        return RunLayout(str(self.trials_location), trial_id, self.trials_home)

    @property
    def best_location(self) -> str | Path:
        """The published `best/` in the store."""
        return storage.join(self.store, "best")

    @property
    def best_dir(self) -> Path:
        """The driver's copy of `best/`."""
        return self.home / "best"
