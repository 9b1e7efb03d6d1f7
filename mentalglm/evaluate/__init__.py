"""Scoring a split (`run`), its reports and the side-by-side table (`report`), the TF-IDF baseline (`baseline`),
scoring through a running service (`endpoint`) and the LLM judge (`judge`)."""

# The modules other packages may import; the rest are this package's own (tests/test_layering.py).
PUBLIC_MODULES = ('baseline', 'report', 'run')
