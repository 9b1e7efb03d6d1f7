"""One record through the teacher: cached answer or a new request, verified, retried with a new sample up to
`max_attempts`; and `ExplainWorker`, the Ray Data actor that does this for a batch with a pool of threads."""

from __future__ import annotations

import json
import pickle
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mentalglm.chat.client import ChatClient, chat_settings
from mentalglm.config.explain import ExplainConfig
from mentalglm.chat.cache import AnswerCache
from mentalglm.explain.prompts import TeacherPrompt, load_prompt
from mentalglm.explain.verify import Consistency, verify_answer

# What each record gives back (column by column through Ray Data; lists travel as JSON text).
OUTCOME_FIELDS = ("id", "status", "explanation", "sample", "reasons", "failure", "requests", "cache_hits",
                  "rejected_answer")


def explain_record(row: dict[str, Any], prompt: TeacherPrompt, cache: AnswerCache, client: ChatClient,
                   cfg: ExplainConfig, consistency: Consistency | None) -> dict[str, Any]:
    """The outcome of one record: `status` kept (with `explanation` and the `sample` it came from), rejected (every
    sample failed verification; `reasons` per sample) or failed (a request failed: `failure` names its kind)."""
    labels = json.loads(row["labels"])
    out: dict[str, Any] = {"id": row["id"], "status": "rejected", "explanation": "", "sample": -1, "reasons": [],
                           "failure": "", "requests": 0, "cache_hits": 0, "rejected_answer": ""}
    for sample in range(cfg.max_attempts):
        answer = cache.get(row["id"], sample)
        if answer is None:
            reply = client.complete(prompt.messages(row["post"], labels), seed=cfg.seed + sample)
            out["requests"] += reply.requests
            if reply.text is None:
                out["status"], out["failure"] = "failed", reply.failure
                break
            answer = reply.text
            cache.put(row["id"], sample, answer)
        else:
            out["cache_hits"] += 1
        verdict = verify_answer(row["task"], row["post"], labels, answer, cfg.verify, consistency)
        if verdict.ok:
            out.update(status="kept", explanation=verdict.explanation, sample=sample)
            break
        out["reasons"].append(verdict.reason)
        out["rejected_answer"] = answer
    out["reasons"] = json.dumps(out["reasons"])
    return out


class ExplainWorker:
    """A Ray Data actor: explains the records of each batch, `threads` requests at a time.

    Args:
        cfg: the ExplainConfig as JSON data.
        models: task -> pickled `LabelModel` for the consistency check (empty when it is off).
        api_key: the teacher's key (read by the driver from `teacher.api_key_env`), or None.
        threads: requests in flight in this actor.
        qps: this actor's share of the request rate (None: no limit).
    """

    def __init__(self, cfg: dict, models: dict[str, bytes], api_key: str | None, threads: int, qps: float | None):
        self.cfg = ExplainConfig.model_validate(cfg)
        teacher = self.cfg.teacher
        self.client = ChatClient(chat_settings(teacher), api_key, qps)
        self.prompts = {task: load_prompt(task) for task in self.cfg.tasks}
        self.caches = {task: AnswerCache(self.cfg.answers_dir(), p.sha256, teacher.model)
                       for task, p in self.prompts.items()}
        self.models = {task: pickle.loads(blob) for task, blob in models.items()}  # noqa: S301 (our own pickles)
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="teacher")

    def _one(self, row: dict[str, Any]) -> dict[str, Any]:
        task = row["task"]
        model = self.models.get(task)
        consistency = (lambda text: model.predict([text])[0]) if model is not None else None
        return explain_record(row, self.prompts[task], self.caches[task], self.client, self.cfg, consistency)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        rows = [{name: _plain(batch[name][i]) for name in batch} for i in range(len(batch["id"]))]
        outcomes = list(self.pool.map(self._one, rows))
        return {name: [o[name] for o in outcomes] for name in OUTCOME_FIELDS}


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
