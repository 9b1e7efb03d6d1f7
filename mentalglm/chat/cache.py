"""A chat endpoint's answers on disk (the teacher's of `data explain`, the judge's of `evaluate --judge`), one file per
(key, prompt hash, model, sample index), so a killed run resumes without asking again and a finished run rerun asks
nothing. Only answers are kept (failed requests are asked again next run). Files are written atomically; several
workers may share the folder."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mentalglm.runs.files import write_text_atomic


class AnswerCache:
    """Answers under `folder/{key[:2]}/{key}.json`."""

    def __init__(self, folder: str | Path, prompt_sha256: str, model: str):
        self.folder, self.prompt_sha256, self.model = Path(folder), prompt_sha256, model

    def _path(self, record_id: str, sample: int) -> Path:
        key = hashlib.sha256(f"{record_id}\0{self.prompt_sha256}\0{self.model}\0{sample}".encode()).hexdigest()
        return self.folder / key[:2] / f"{key}.json"

    def get(self, record_id: str, sample: int) -> Any:
        """The cached answer, or None (absent, or a file that cannot be read: it is asked again)."""
        try:
            return json.loads(self._path(record_id, sample).read_text(encoding="utf-8"))["answer"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, record_id: str, sample: int, answer: Any) -> None:
        """Keep `answer` (JSON data) for this record and sample."""
        write_text_atomic(self._path(record_id, sample), json.dumps({"answer": answer}, ensure_ascii=False))
