"""No post text outside the data files: build data from rows crafted to fail, train to a checkpoint, and scan
every file produced (stats, checkpoints, final adapter, metrics, TensorBoard, Ray's logs), every log record at
DEBUG and every error message for any 6-character piece of any post."""

import json
import logging
import os
import re
from pathlib import Path

import pytest

from paths import REPO

# Fictional posts, written for this test; every 6-character window of them is a needle.
GOOD = [
    "凌晨三点还醒着，窗外的路灯一直闪，觉得自己像个多余的人",
    "妈妈又打电话来催婚，挂了电话我一个人在楼道里坐了很久",
    "体检报告出来了，医生说要复查，我一整天都没敢告诉家里人",
    "宿舍里只有我没有被邀请去聚餐，大家是不是都在背后笑我",
    "把攒了很久的安眠药倒在桌上数了一遍，今晚想一个人待着",
    "失业第四个月了，房租下周到期，银行卡里只剩两百块钱",
    "考研第三次落榜，爸妈说没关系，可我知道他们很失望",
    "养了八年的猫昨天走了，屋子里安静得让人喘不过气来",
    "同桌把我的日记拿给全班看，我再也不想去学校上课了",
    "前男友结婚了，我在朋友圈看到照片，哭到胃疼睡不着",
]
BAD = [  # each lands in a column where a value is expected, or in a row of the wrong shape
    "这一行的等级栏里写的是一整句心里话而不是数字",
    "列数不对的这一行也带着一句不能外泄的心里话",
    "风险标签栏里被人填进了一句完整的求救的话语",
    "这一条记录的标签是一句话而不是规定的标签名",
    "任务字段里写着一段私密的倾诉而不是任务名称",
]
EXPLAIN = "帖子说「{}」，表达了明显的痛苦。"


def _needles() -> set[str]:
    texts = GOOD + BAD + [EXPLAIN.format(p[:8]) for p in GOOD]
    return {t[i:i + 6] for t in texts for i in range(len(t) - 5)}


_CJK_RUN = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]{6,}")
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _leaks(text: str, needles: set[str]) -> set[str]:
    """Needles found in `text`, read as is and with \\uXXXX escapes (ensure_ascii JSON, reprs) decoded."""
    found = set()
    for view in (text, _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)):
        for run in _CJK_RUN.findall(view):
            found |= {run[i:i + 6] for i in range(len(run) - 5)} & needles
    return found


def _write_sources(root: Path) -> dict[str, Path]:
    root.mkdir(parents=True)
    levels = [str(i % 11) for i in range(len(GOOD))]
    l4 = "comment\tmyLabel\texplain\n" + "".join(f"{p}\t{lv}\t{EXPLAIN.format(p[:8])}\n" for p, lv in zip(GOOD, levels))
    l4 += f"我没事\t{BAD[0]}\t解释\n" + f"{BAD[1]}\t3\n" + f"{GOOD[0]}\t12\t解释\n"
    hl = "id\tlabel\tcomment\n" + "".join(f"{i}\t{i % 2}\t{p}\n" for i, p in enumerate(GOOD))
    hl += f"99\t{BAD[2]}\t还好\n"
    jsonl = "".join(json.dumps({"task": "cognitive_distortion", "post": p, "labels": ["读心术"]},
                               ensure_ascii=False) + "\n" for p in GOOD)
    jsonl += json.dumps({"task": "cognitive_distortion", "post": "还好", "labels": [BAD[3]]}, ensure_ascii=False)
    jsonl += "\n" + json.dumps({"task": BAD[4], "post": "还好", "labels": []}, ensure_ascii=False) + "\n"
    paths = {"l4": root / "l4.tsv", "hl": root / "hl.tsv", "cd": root / "cd.jsonl"}
    for (name, path), text in zip(paths.items(), (l4, hl, jsonl)):
        path.write_text(text, encoding="utf-8")
    return paths


def _sources(paths: dict[str, Path]) -> list[dict]:
    return [{"name": "l4", "format": "sos_4k", "splits": {"train": paths["l4"]}},
            {"name": "hl", "format": "sos_hl_1k", "splits": {"train": paths["hl"]}},
            {"name": "cd", "format": "jsonl", "task": "cognitive_distortion", "splits": {"train": paths["cd"]}}]


@pytest.fixture(scope="module")
def debug_ray():
    """A local Ray cluster whose workers log the library at DEBUG; yields its session folder."""
    import ray

    os.environ["MENTALGLM_LOG_LEVEL"] = "DEBUG"
    try:
        context = ray.init(num_cpus=2, include_dashboard=True, log_to_driver=False,
                           runtime_env={"env_vars": {"MENTALGLM_LOG_LEVEL": "DEBUG"}})
        yield Path(context.address_info["session_dir"])
    finally:
        ray.shutdown()
        del os.environ["MENTALGLM_LOG_LEVEL"]


def test_no_post_text_leaves_the_data_files(debug_ray, tiny_model_dir, tmp_path, caplog):
    from mentalglm.config import DataBuildConfig, load_config
    from mentalglm.config.train import TrainConfig
    from mentalglm.data.build import build_dataset
    from mentalglm.errors import DataError
    from mentalglm.train import train

    caplog.set_level(logging.DEBUG)
    needles = _needles()
    paths = _write_sources(tmp_path / "raw")

    # strict builds: each crafted source fails with a message naming file, line and column
    messages = []
    for source in _sources(paths):
        with pytest.raises(DataError) as err:
            build_dataset(DataBuildConfig(out_dir=tmp_path / "strict", sources=[source]))
        messages.append(str(err.value))
    assert [m.split(": ")[0].split("/")[-1] for m in messages] == ["l4.tsv:12:2", "hl.tsv:12:2",
                                                                   "cd.jsonl:11 (field labels)"]

    # lenient build, then a training run to a checkpoint
    data = tmp_path / "data"
    stats = build_dataset(DataBuildConfig(out_dir=data, on_bad_row="skip", val_fraction=0.2,
                                          sources=_sources(paths)))
    assert len(stats["skipped_rows"]) == 6
    result = train(load_config(TrainConfig, REPO / "configs/train/tiny-lora.yaml", [
        f"model.name_or_path={tiny_model_dir}", f"data.dir={data}", f"run.storage_path={tmp_path / 'runs'}",
        f"deepspeed.config={REPO / 'configs/deepspeed/zero2.json'}", "train.epochs=1", "train.checkpoint_every=2"]))
    assert result.final_dir is not None and result.checkpoint

    scanned, leaks = 0, {}
    files = [data / "stats.json", *(p for p in (tmp_path / "runs").rglob("*") if p.is_file()),
             *(p for p in (debug_ray / "logs").rglob("*") if p.is_file())]
    for path in files:
        found = _leaks(path.read_bytes().decode("utf-8", errors="ignore"), needles)
        scanned += 1
        if found:
            leaks[str(path)] = sorted(found)[:3]
    # token ids are text too: decode every tensor of ids a checkpoint holds
    import torch
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    probes = list((tmp_path / "runs").rglob("probe.pt"))
    assert probes
    for probe in probes:
        found = _leaks(tok.decode(torch.load(probe)["input_ids"].flatten().tolist()), needles)
        if found:
            leaks[f"{probe} (decoded ids)"] = sorted(found)[:3]
    for record in caplog.records:
        found = _leaks(record.getMessage(), needles)
        if found:
            leaks[f"log {record.name}:{record.levelname}"] = sorted(found)[:3]
    for message in messages:
        if _leaks(message, needles):
            leaks[message] = sorted(_leaks(message, needles))[:3]
    assert leaks == {}
    assert scanned > 20 and any(p.suffix == ".safetensors" for p in files)
    # the scan reads DEBUG: the workers' debug lines reached Ray's logs, and the driver logged at DEBUG
    worker_logs = "".join(p.read_text(errors="ignore") for p in (debug_ray / "logs").rglob("worker-*.err"))
    assert "DEBUG mentalglm.train.recipe: rank 0:" in worker_logs
    assert caplog.records
    # and it would find a leak: the data files themselves hold the posts
    assert _leaks((data / "train.jsonl").read_text(encoding="utf-8"), needles)
