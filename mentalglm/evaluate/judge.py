"""An LLM judge of explanations (G-Eval style): for each explanation and each rating criterion, the judge model at an
OpenAI-compatible endpoint reads the post, the predicted label, the explanation and the criterion's rubric (in
Chinese, the rating rubric of `mentalglm.tasks.rubric`) and answers one score 0-3.

The score is the probability-weighted mean over the digits 0-3 at the first answer token that is one of them, when
the endpoint returns log probabilities; else the integer parsed from the answer. An answer with neither is counted
(`unparseable`), as is every failed request (by the chat client's kinds); nothing is guessed. Answers are cached on
disk by (record id, criterion, prompt hash, judge model), so a rerun asks nothing again.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from mentalglm.chat.client import ChatClient, Reply, chat_settings
from mentalglm.config.judge import JudgeConfig
from mentalglm.chat.cache import AnswerCache
from mentalglm.tasks.rubric import CRITERIA, rubric_text
from mentalglm.tasks import get_task

SYSTEM = "你是一名临床心理学专家，负责评估模型为社交媒体帖子给出的心理健康分析解释。请严格按评分标准打分。"
USER = ("帖子：{post}\n问题：{question}\n模型给出的标签：{label}\n模型的解释：{explanation}\n\n评分标准——{rubric}\n"
        "请只输出一个 0 到 3 之间的整数。")
PROMPT_SHA256 = hashlib.sha256(f"{SYSTEM}\0{USER}".encode()).hexdigest()
_DIGITS = {str(s): s for s in range(4)}


def score_reply(reply: Reply) -> float | None:
    """The score of one judge answer (module docstring), or None."""
    for alternatives in reply.top_logprobs or []:
        probs = {}
        for token, logprob in alternatives.items():
            digit = token.strip()
            if digit in _DIGITS:
                probs[_DIGITS[digit]] = probs.get(_DIGITS[digit], 0.0) + math.exp(logprob)
        if probs:
            return sum(k * p for k, p in probs.items()) / sum(probs.values())
    m = re.search(r"(?<![0-9.])([0-3])(?![0-9.])", reply.text or "")
    return float(m.group(1)) if m else None


class Judge:
    """Scores explanations with the judge of `cfg`."""

    def __init__(self, cfg: JudgeConfig):
        self.cfg = cfg
        self.client = ChatClient(chat_settings(cfg.judge, top_logprobs=cfg.top_logprobs), cfg.judge.api_key("judge"),
                                 cfg.judge.qps)
        self.cache = AnswerCache(cfg.cache_dir, PROMPT_SHA256, cfg.judge.model)

    def _one(self, item: tuple[str, str, str, str, str, str]) -> tuple[float | None, str | None, int]:
        record_id, task, post, label, explanation, criterion = item
        key = f"{record_id}\0{criterion}\0{hashlib.sha256(explanation.encode()).hexdigest()}"
        cached = self.cache.get(key, 0)
        requests = 0
        if cached is None:
            messages = [{"role": "system", "content": SYSTEM},
                        {"role": "user", "content": USER.format(post=post, question=get_task(task).question,
                                                                label=label, explanation=explanation,
                                                                rubric=rubric_text(criterion))}]
            reply = self.client.complete(messages)
            requests = reply.requests
            if reply.text is None:
                return None, reply.failure, requests
            cached = {"text": reply.text, "top_logprobs": reply.top_logprobs}
            self.cache.put(key, 0, cached)
        score = score_reply(Reply(cached["text"], None, 0, 200, cached["top_logprobs"]))
        return score, None if score is not None else "unparseable", requests

    def score(self, rows: Sequence[tuple[str, str, str, str, str]]) -> tuple[list[dict[str, float | None]], dict]:
        """Per row (record id, task, post, predicted label text, explanation): criterion -> score or None; and the
        counts (scored, failures by kind, requests)."""
        items = [(*row, criterion) for row in rows for criterion in CRITERIA]
        with ThreadPoolExecutor(self.cfg.judge.concurrency) as pool:
            results = list(pool.map(self._one, items))
        scores: list[dict[str, float | None]] = [{} for _ in rows]
        failures: Counter[str] = Counter()
        for n, (score, failure, _) in enumerate(results):
            scores[n // len(CRITERIA)][CRITERIA[n % len(CRITERIA)]] = score
            if failure:
                failures[failure] += 1
        counts = {"scored": sum(s is not None for s, _, _ in results), "failures": dict(sorted(failures.items())),
                  "requests": sum(r for _, _, r in results)}
        return scores, counts
