"""GLM-4's chat format: special tokens, the chat template, and the prompt every stage renders.

The template follows GLM-4-9B-chat-hf: `[gMASK]<sop><|user|>\\n{content}<|assistant|>\\n{content}`; generation
stops at `<|endoftext|>`, `<|user|>` or `<|observation|>`.
"""

from __future__ import annotations

from typing import Any

EOS_TOKEN = "<|endoftext|>"
GLM4_SPECIAL_TOKENS = (
    EOS_TOKEN, "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>", "<|system|>", "<|user|>", "<|assistant|>",
    "<|observation|>", "<|begin_of_image|>", "<|end_of_image|>", "<|begin_of_video|>", "<|end_of_video|>",
)
STOP_TOKENS = (EOS_TOKEN, "<|user|>", "<|observation|>")

GLM4_CHAT_TEMPLATE = (
    "[gMASK]<sop>"
    "{% for message in messages %}"
    "{% if message['role'] in ['system', 'user', 'assistant', 'observation'] %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def render_prompt(tokenizer: Any, instruction: str) -> str:
    """The text a model sees before its answer: the chat template applied to one user turn (after the tokenizer's
    system prompt, `mentalglm.data.prompt_ids.instruction_messages`).

    Uses the tokenizer's own template (so the real GLM-4 tokenizer renders its own format); the prompt always
    ends in a newline after `<|assistant|>`, as GLM-4 answers on a new line.
    """
    from mentalglm.data.prompt_ids import instruction_messages

    prompt = tokenizer.apply_chat_template(instruction_messages(tokenizer, instruction), tokenize=False,
                                           add_generation_prompt=True)
    return prompt if prompt.endswith("\n") else prompt + "\n"


def stop_token_ids(tokenizer: Any) -> list[int]:
    """Ids of the tokens that end an answer (those the tokenizer knows)."""
    vocab = tokenizer.get_vocab()
    ids = [vocab[t] for t in STOP_TOKENS if t in vocab]
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.insert(0, tokenizer.eos_token_id)
    return ids
