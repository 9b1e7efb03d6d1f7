"""Config loading: overrides on dotted paths; unknown keys and bad values name the key, the file and the line."""

from pathlib import Path

import pytest

from paths import REPO
from mentalglm.cli import VERBS
from mentalglm.config import ConfigError, DataBuildConfig, load_config

GOOD = """\
# mentalglm data build x.yaml
out_dir: out
sources:
  - name: hl
    format: sos_hl_1k
    task: suicide_risk
    splits: {train: a.tsv}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_overrides_set_nested_and_list_keys(tmp_path):
    cfg = load_config(DataBuildConfig, _write(tmp_path, GOOD),
                      ["val_fraction=0.2", "sources.0.splits.test=t.tsv", "on_bad_row=skip"])
    assert cfg.val_fraction == 0.2 and cfg.on_bad_row == "skip"
    assert cfg.sources[0].splits == {"train": Path("a.tsv"), "test": Path("t.tsv")}


def test_unknown_key_names_key_file_and_line(tmp_path):
    path = _write(tmp_path, GOOD.replace("    task: suicide_risk", "    task: suicide_risk\n    tsak: x"))
    with pytest.raises(ConfigError) as err:
        load_config(DataBuildConfig, path)
    assert f"{path}:7: sources.0.tsak: unknown key" in str(err.value)


def test_bad_value_names_key_and_line(tmp_path):
    path = _write(tmp_path, GOOD.replace("out_dir: out", "out_dir: out\nval_fraction: 1.5"))
    with pytest.raises(ConfigError, match=rf"{path}:3: val_fraction: Input should be less than 1"):
        load_config(DataBuildConfig, path)


def test_unknown_task_and_format_mismatch(tmp_path):
    with pytest.raises(ConfigError, match=r"sources\.0\.task: .*unknown task 'risk'"):
        load_config(DataBuildConfig, _write(tmp_path, GOOD.replace("task: suicide_risk", "task: risk")))
    with pytest.raises(ConfigError, match=r"sources\.0: .*format sos_hl_1k holds suicide_risk records"):
        load_config(DataBuildConfig, _write(tmp_path, GOOD.replace("task: suicide_risk", "task: suicide_level")))


def test_bad_override_is_named_as_override(tmp_path):
    path = _write(tmp_path, GOOD)
    with pytest.raises(ConfigError, match=r"\(override on_bad_row\): on_bad_row: Input should be 'error' or 'skip'"):
        load_config(DataBuildConfig, path, ["on_bad_row=ignore"])
    with pytest.raises(ConfigError, match=r"override sources\.3\.task: sources\.3 is not a valid list index"):
        load_config(DataBuildConfig, path, ["sources.3.task=x"])
    with pytest.raises(ConfigError, match="expected key=value"):
        load_config(DataBuildConfig, path, ["val_fraction"])
    with pytest.raises(ConfigError, match=r"unknown key"):
        load_config(DataBuildConfig, path, ["nonsense.deep=1"])


def test_missing_required_key_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match=r"out_dir: Field required"):
        load_config(DataBuildConfig, _write(tmp_path, GOOD.replace("out_dir: out\n", "")))
    with pytest.raises(ConfigError, match=rf"{tmp_path / 'cfg.yaml'}:4: not valid YAML"):
        load_config(DataBuildConfig, _write(tmp_path, "out_dir: out\nsources:\n  - {name: [\n"))
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(DataBuildConfig, tmp_path / "missing.yaml")


@pytest.mark.parametrize("path", sorted((REPO / "configs").rglob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_has_a_usage_comment_and_validates(path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# mentalglm ") or first.startswith("# ray job submit"), first
    assert str(path.relative_to(REPO)) in first
    verb = first.removeprefix("# mentalglm ").split(" configs/")[0]
    assert verb in VERBS, f"usage comment names an unknown verb: {verb}"
    if f"--judge {path.relative_to(REPO)}" in first:  # the judge's config, named by its option
        from mentalglm.config.judge import JudgeConfig

        load_config(JudgeConfig, path)
    else:
        load_config(VERBS[verb].schema, path)  # the schema of the verb its usage line names


BOMB = "\n".join(['a: &a ["x","x","x","x","x","x","x","x","x"]'] +
                 [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)])


def test_a_yaml_alias_bomb_is_refused_before_it_is_expanded(tmp_path):
    import tracemalloc

    path = _write(tmp_path, "out_dir: out\nsources: []\nno_such_key:\n" +
                  "\n".join("  " + line for line in BOMB.splitlines()) + "\n")
    tracemalloc.start()
    with pytest.raises(ConfigError) as err:
        load_config(DataBuildConfig, path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert str(err.value) == (f"{path}:5: YAML alias *a refused (configs take no anchors and aliases: write the "
                              "value out)")
    assert peak < 5 * 1024**2  # 9^9 strings would be gigabytes


def test_a_yaml_of_too_many_nodes_and_an_alias_in_an_override_are_refused(tmp_path):
    path = _write(tmp_path, "out_dir: out\nsources:\n" + "".join(f"  - {i}\n" for i in range(10_001)))
    with pytest.raises(ConfigError, match=rf"^{path}: more than 10000 YAML nodes; a config is far smaller$"):
        load_config(DataBuildConfig, path)
    with pytest.raises(ConfigError, match=r"^override seed:1: YAML alias \*x refused"):
        load_config(DataBuildConfig, _write(tmp_path, "out_dir: out\nsources: []\n"), ["seed=[&x [1, 2], *x]"])


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
def test_no_float_of_a_config_takes_inf_or_nan(value):
    from mentalglm.config.serve import ServeConfig
    from mentalglm.config.train import TrainConfig

    path = REPO / "configs/train/tiny-lora.yaml"
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.strip().startswith("lr:"))
    with pytest.raises(ConfigError) as err:
        load_config(TrainConfig, path, [f"train.lr={value}"])
    assert str(err.value) == (f"invalid config:\n  {path}:{line} (override train.lr): train.lr: Input should be a "
                              "finite number")
    with pytest.raises(ConfigError, match=r"serve\.request_timeout_s: Input should be a finite number$"):
        load_config(ServeConfig, REPO / "configs/serve/local.yaml", [f"serve.request_timeout_s={value}"])
