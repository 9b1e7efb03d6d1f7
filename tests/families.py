"""The two model families the suite runs on: what each one's chat template puts around a turn.

`glm`: the tiny GLM-4-9B-architecture model (tokenizer trained on the sample, GLM-4's template). `qwen2`: a tiny
Qwen2ForCausalLM with Qwen's real tokenizer and ChatML template (`mentalglm model init`, preset `tiny-qwen2`).
"""

from dataclasses import dataclass

from mentalglm.model.chat_format import GLM4_SPECIAL_TOKENS

QWEN_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|box_start|>",
                       "<|vision_start|>", "<|image_pad|>")


@dataclass(frozen=True)
class Family:
    """One family's chat format, as a test checks it."""

    name: str
    user_prompt_controls: tuple[str, ...]  # the control tokens of a one-user-turn prompt, in order
    system_prompt_controls: tuple[str, ...]  # the same with a system turn first
    end_of_answer: str  # the token training puts after a response
    prompt_start: str  # what a rendered one-user-turn prompt starts with
    prompt_end: str  # what follows the user's text in it, up to the answer
    special_tokens: tuple[str, ...]  # the strings a post may carry that the tokenizer knows as specials


FAMILIES = {
    "glm": Family("glm", ("[gMASK]", "<sop>", "<|user|>", "<|assistant|>"),
                  ("[gMASK]", "<sop>", "<|system|>", "<|user|>", "<|assistant|>"), "<|endoftext|>",
                  "[gMASK]<sop><|user|>\n", "<|assistant|>\n", GLM4_SPECIAL_TOKENS),
    "qwen2": Family("qwen2", ("<|im_start|>", "<|im_end|>", "<|im_start|>"),
                    ("<|im_start|>", "<|im_end|>", "<|im_start|>", "<|im_end|>", "<|im_start|>"), "<|im_end|>",
                    "<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n", QWEN_SPECIAL_TOKENS),
}
# Every family's special-token strings, in one post: none of them may become a control token.
ALL_SPECIAL_TOKENS = tuple(dict.fromkeys(t for f in FAMILIES.values() for t in f.special_tokens))
