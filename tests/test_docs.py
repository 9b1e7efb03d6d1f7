"""Every command the README and docs/ show names an existing verb, config, option and config key, and every
docs/ page is linked from the README."""

import importlib.util
import re
import shlex
import typing

import pytest
from pydantic import BaseModel

from mentalglm.cli import VERBS, build_parser, find_verb
from paths import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
GLOBAL_OPTIONS = {"--log-level", "--help", "-h"}


def _commands(text: str) -> list[str]:
    """Commands in shell code blocks (continuation lines joined, comments cut) and in inline code spans."""
    found, prose, block, lang = [], [], None, ""
    for line in text.splitlines():
        if line.startswith("```"):
            if block is None:
                block, lang = [], line[3:].strip()
                continue
            if lang in ("", "bash", "sh", "console"):
                for command in "\n".join(block).replace("\\\n", " ").splitlines():
                    command = re.sub(r"\s+#.*$", "", command).strip()
                    if command and not command.startswith("#"):
                        found.append(command)
            block = None
        elif block is not None:
            block.append(line)
        else:
            prose.append(line)
    found += re.findall(r"`((?:mentalglm|python3?) [^`]+)`", "\n".join(prose))
    return found


def _placeholder(word: str) -> bool:
    return bool(re.fullmatch(r"[A-Z][A-Z_]*|\[.*|.*….*|\.\.\.", word))


def _has_key(schema: type[BaseModel], key: str) -> bool:
    """Whether the dotted `key` names a field of `schema` (through nested models; free below dicts and lists)."""
    node: typing.Any = schema
    for part in key.split("."):
        if not (isinstance(node, type) and issubclass(node, BaseModel)):
            return True  # below a dict, a list or a free value
        if part not in node.model_fields:
            return False
        annotation = node.model_fields[part].annotation
        models = [a for a in (typing.get_args(annotation) or (annotation,))
                  if isinstance(a, type) and issubclass(a, BaseModel)]
        node = models[0] if models else None
    return True


def _schema_of(schema: type) -> tuple[type[BaseModel], ...]:
    return getattr(schema, "schemas", (schema,))  # TrainOrTuneConfig: either


def _check_verb(name: str, words: list[str], where: str) -> list[str]:
    problems = []
    flags = {f for action in build_parser(name)._actions for f in action.option_strings} | GLOBAL_OPTIONS
    positional = []
    skip_next = False
    for word in words:
        if skip_next:
            skip_next = False
            continue
        if word.startswith("-"):
            if word.split("=")[0] not in flags:
                problems.append(f"{where}: `{name}` has no option {word}")
            skip_next = word in flags and word not in ("--detach", "--help", "-h") and "=" not in word
        elif "=" in word and not word.startswith(("http", "/")):
            key = word.split("=", 1)[0]
            if VERBS[name].schema is not None and not _placeholder(key) and \
                    not any(_has_key(s, key) for s in _schema_of(VERBS[name].schema)):
                problems.append(f"{where}: `{name}` config has no key {key}")
        else:
            positional.append(word)
    config = positional[0] if positional and VERBS[name].schema is not None else None
    if config and not _placeholder(config) and not (REPO / config).is_file():
        problems.append(f"{where}: `{name}` names a config that does not exist: {config}")
    return problems


def _check(command: str, where: str) -> list[str]:
    try:
        words = shlex.split(command)
    except ValueError:
        return [f"{where}: cannot split {command!r}"]
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VAR=value before the command
        words = words[1:]
    if "--" in words:  # ray job submit … -- python ray_jobs/x.py …
        words = words[words.index("--") + 1:]
    if words[:1] == ["mentalglm"]:
        while words[1:2] == ["--log-level"]:
            words = [words[0], *words[3:]]
        name, rest = find_verb(words[1:])
        if name is None:
            return [] if len(words) == 1 or _placeholder(words[1]) else [f"{where}: no verb in {command!r}"]
        return _check_verb(name, rest, where)
    if words[:1] in (["python"], ["python3"]) and words[1:2] == ["-m"]:
        found = importlib.util.find_spec(words[2]) is not None
        return [] if found else [f"{where}: no module {words[2]}"]
    if words[:1] in (["python"], ["python3"]) and len(words) > 1 and not _placeholder(words[1]):
        script = REPO / words[1]
        if not script.is_file():
            return [f"{where}: {words[1]} does not exist"]
        job = re.search(r'job_main\("([a-z ]+)"', script.read_text(encoding="utf-8"))
        if job and "--config" in words:
            rest = words[2:]
            config = rest[rest.index("--config") + 1]
            rest = rest[:rest.index("--config")] + rest[rest.index("--config") + 2:]
            return _check_verb(job.group(1), [config, *rest], where)
    return []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_names_an_existing_verb_config_option_and_key(page):
    text = page.read_text(encoding="utf-8")
    commands = _commands(text)
    problems = [p for c in commands for p in _check(c, page.name)]
    assert problems == []


def test_the_checker_catches_a_wrong_verb_config_option_and_key():
    assert _check("mentalglm trian configs/train/tiny-lora.yaml", "x") == ["x: no verb in 'mentalglm trian "
                                                                            "configs/train/tiny-lora.yaml'"]
    assert _check("mentalglm train configs/train/nope.yaml", "x") == [
        "x: `train` names a config that does not exist: configs/train/nope.yaml"]
    assert _check("mentalglm baseline configs/evaluate/tiny.yaml --checkpoint a", "x") == [
        "x: `baseline` has no option --checkpoint"]
    assert _check("mentalglm train configs/train/tiny-lora.yaml train.lrr=1", "x") == [
        "x: `train` config has no key train.lrr"]
    assert _check("python ray_jobs/serve.py --config configs/serve/local.yaml --checkpoint a serve.hots=x", "x") == [
        "x: `serve` config has no key serve.hots"]
    assert _check("mentalglm evaluate configs/evaluate/tiny.yaml --split val evaluate.judge=j.yaml", "x") == []


def test_the_readme_links_every_docs_page():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\((docs/[^)]+\.md)\)", readme))
    assert linked == {f"docs/{p.name}" for p in (REPO / "docs").glob("*.md")}
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:]+\.md)\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).is_file(), f"{page.name} links {target}"


def test_every_usage_comment_of_a_config_names_an_existing_verb_option_and_key():
    problems = []
    for path in sorted((REPO / "configs").rglob("*.yaml")):
        for line in path.read_text(encoding="utf-8").splitlines():
            command = re.sub(r"\s+#.*$", "", line.lstrip("# ").strip())
            if line.startswith("#") and command.startswith(("mentalglm ", "ray job submit")):
                problems += _check(re.sub(r"\s*[\[(].*$", "", command), str(path.relative_to(REPO)))
    assert problems == []


def test_the_cli_page_lists_every_config_key_group():
    page = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    missing = [f"{s.__name__}.{key}" for verb in VERBS.values() if verb.schema is not None
               for s in _schema_of(verb.schema) for key in s.model_fields if f"`{key}`" not in page]
    assert missing == []


NAMING = {  # configs/<verb>/<what>.yaml: the model and method, the place, or the dataset, per verb
    "train": r"(tiny|small|glm4-9b)-lora(-[a-z0-9-]+)?", "tune": r"(tiny|small|glm4-9b)-lora(-[a-z0-9-]+)?",
    "evaluate": r"tiny|small|glm4-9b", "serve": r"local|cluster", "pipeline": r"local|cluster",
}


def test_configs_are_named_on_one_axis_per_verb():
    wrong = [str(p.relative_to(REPO)) for verb, pattern in NAMING.items()
             for p in (REPO / "configs" / verb).glob("*.yaml") if not re.fullmatch(pattern, p.stem)]
    assert wrong == []


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:n]))
        except ImportError:
            continue
        for attr in parts[n:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_every_library_name_the_pages_give_exists():
    names = {(page.name, name) for page in PAGES
             for name in re.findall(r"`(mentalglm(?:\.[A-Za-z_]\w*)+)`", page.read_text(encoding="utf-8"))}
    assert len(names) > 15
    assert sorted(f"{page}: {name}" for page, name in names if not _resolves(name)) == []
