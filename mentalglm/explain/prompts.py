"""The teacher's prompts: one versioned YAML file per task in `prompts/` (see its README.md), hashed into provenance."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from mentalglm.tasks import get_task, render_response

PROMPT_DIR = Path(__file__).parent / "prompts"


@dataclass(frozen=True)
class Example:
    """A hand-written few-shot example: a fictional post, its labels, and the explanation the teacher should match."""

    post: str
    labels: list[str]
    explanation: str


@dataclass(frozen=True)
class TeacherPrompt:
    """One task's prompt: its version, the SHA-256 of its file, the messages' texts and the few-shot examples."""

    task: str
    version: int
    sha256: str
    system: str
    user: str
    examples: tuple[Example, ...]

    def user_turn(self, post: str, labels: list[str]) -> str:
        """The user message asking for the explanation of `post` under its gold `labels`."""
        task = get_task(self.task)
        ordered = task.order_labels(labels)
        return self.user.format(post=post, labels="、".join(ordered), answer_sentence=render_response(self.task, ordered))

    def messages(self, post: str, labels: list[str]) -> list[dict[str, str]]:
        """The chat messages of one request: system, the examples as earlier turns, then this post."""
        out = [{"role": "system", "content": self.system.strip()}]
        for ex in self.examples:
            out.append({"role": "user", "content": self.user_turn(ex.post, ex.labels)})
            out.append({"role": "assistant", "content": render_response(self.task, ex.labels, ex.explanation)})
        out.append({"role": "user", "content": self.user_turn(post, labels)})
        return out


def load_prompt(task: str, folder: Path = PROMPT_DIR) -> TeacherPrompt:
    """The prompt of `task` from `{folder}/{task}.yaml`.

    Raises:
        FileNotFoundError: no prompt file for the task. ValueError: a field is missing or an example's labels are
            not the task's.
    """
    path = folder / f"{task}.yaml"
    raw = path.read_bytes()
    doc = yaml.safe_load(raw)
    missing = [key for key in ("version", "system", "user", "examples") if key not in (doc or {})]
    if missing:
        raise ValueError(f"{path}: missing {missing}")
    examples = []
    for i, ex in enumerate(doc["examples"]):
        try:
            labels = get_task(task).order_labels([str(x) for x in ex["labels"]])
            examples.append(Example(str(ex["post"]).strip(), labels, str(ex["explanation"]).strip()))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{path}: examples[{i}]: {exc}") from None
    return TeacherPrompt(task, int(doc["version"]), hashlib.sha256(raw).hexdigest(), str(doc["system"]),
                         str(doc["user"]).strip(), tuple(examples))
