"""Records from raw sources: pinned public sources (`upstream`, `fetch`), readers of raw and chat formats
(`formats`, `chat_formats`, `rows`), the scrub, near-duplicates, the build (`build`), the Hugging Face export and
the splits read back (`hf_dataset`, `split_records`, `records`, `encoded`), prompt ids, tokenisation and batching.

Importing this package imports none of its modules."""

# The modules other packages may import; the rest are this package's own (tests/test_layering.py).
PUBLIC_MODULES = ('batching', 'build', 'encoded', 'fetch', 'hf_dataset', 'io', 'prompt_ids', 'records', 'scrub',
    'split_records', 'stratify', 'tokenization')
