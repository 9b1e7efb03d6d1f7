"""The language model: loading base + adapter (`loading`), the one generation loop (`inference`), answer
sources for evaluation (`answer_sources`), LoRA targets, chat templates, the tiny model and the TF-IDF label model.

Importing this package imports neither torch nor transformers."""

# The modules other packages may import; the rest are this package's own (tests/test_layering.py).
PUBLIC_MODULES = ('answer_sources', 'inference', 'label_model', 'loading', 'lora_targets', 'tiny')
