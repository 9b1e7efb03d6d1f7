"""Serving: a Ray Serve application over the trained adapter (analysis API, OpenAI-compatible chat, analyst page).

Import `mentalglm.serve.service` for `start_service`/`stop_service`/`build_app`; importing this package
imports neither Ray nor torch.
"""

# The modules other packages may import; the rest are this package's own (tests/test_layering.py).
PUBLIC_MODULES = ('service', 'smoke')
