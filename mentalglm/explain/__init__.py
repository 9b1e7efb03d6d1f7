"""Explanations for label-only records from a teacher model, verified before use (`mentalglm data explain`).

Modules: `prompts` (the versioned per-task prompts and their few-shot examples), `verify` (the checks an answer
passes), `worker` (one record, and the Ray Data actor), `review` (the review sample) and `run` (`run_explain`).
Requests go through the project's chat client and its answer cache (`mentalglm.chat.client`, `mentalglm.chat.cache`).
"""

# The modules other packages may import; the rest are this package's own (tests/test_layering.py).
PUBLIC_MODULES = ('run',)
