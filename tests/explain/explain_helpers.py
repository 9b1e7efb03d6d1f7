"""Helpers of the `data explain` tests: data folders built from posts, and configs for the scripted teacher."""

import json

from paths import REPO


def build_posts(folder, rows):
    """A data folder built by `data build` from unified records [(task, post, labels, explanation)], all train."""
    from mentalglm.config import DataBuildConfig
    from mentalglm.data.build import build_dataset

    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "records.jsonl"
    source.write_text("".join(json.dumps({"task": t, "post": p, "labels": l, "explanation": e}, ensure_ascii=False)
                              + "\n" for t, p, l, e in rows), encoding="utf-8")
    out = folder / "built"
    build_dataset(DataBuildConfig(out_dir=out, val_fraction=0.0, near_duplicate_jaccard=None,
                                  sources=[{"name": "mine", "format": "jsonl", "splits": {"train": source}}]))
    return out


def explain_config(data_dir, out_dir, url, *overrides):
    """An ExplainConfig for the scripted teacher at `url`, fast retries."""
    from mentalglm.config import load_config
    from mentalglm.config.explain import ExplainConfig

    return load_config(ExplainConfig, REPO / "configs/data/explain-vllm.yaml", [
        f"data_dir={data_dir}", f"out_dir={out_dir}", f"teacher.base_url={url}", "teacher.model=scripted",
        "teacher.api_key_env=null", "teacher.timeout_s=0.5", "teacher.max_retries=1", "teacher.backoff_s=0.01",
        "verify.consistency=false", *overrides])
