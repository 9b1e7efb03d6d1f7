"""Run storage every stage shares: atomic writes and hashes (`files`), local paths or object-store URIs
(`storage`), a run's folders (`layout`) and published, manifest-verified adapter folders (`publish`)."""

from mentalglm.runs import files, storage
from mentalglm.runs.files import (
    file_sha256,
    write_binary_atomic,
    write_dir_atomic,
    write_figure_atomic,
    write_json_atomic,
    write_jsonl_atomic,
    write_text_atomic,
)
from mentalglm.runs.layout import RunLayout
from mentalglm.runs import publish
from mentalglm.runs.publish import MANIFEST, read_manifest, resolve_adapter, verify_folder

__all__ = [
    "MANIFEST", "RunLayout", "file_sha256", "files", "publish", "read_manifest", "resolve_adapter", "storage",
    "verify_folder", "write_binary_atomic", "write_dir_atomic", "write_figure_atomic", "write_json_atomic",
    "write_jsonl_atomic", "write_text_atomic",
]

# The modules other packages may import; the rest are this package's own (tests/test_layering.py).
PUBLIC_MODULES = ('files', 'layout', 'publish', 'storage', 'tables')
