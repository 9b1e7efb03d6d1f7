"""Parsing one command: its verb, config, options (each a spelling of a config key) and `key=value` overrides."""

from __future__ import annotations

import argparse
import json
import sys

from mentalglm.cli.verbs import VERBS

_SUMMARY = "The `mentalglm` command line: one table maps each verb to one library function."


def verb_table() -> str:
    """`mentalglm --help`: every verb with its help line."""
    width = max(map(len, VERBS))
    lines = [f"  {name:<{width}}  {verb.help}" for name, verb in VERBS.items()]
    return ("usage: mentalglm [--log-level LEVEL] VERB CONFIG [options] [key=value ...]\n\n"
            + _SUMMARY + "\n\nverbs:\n" + "\n".join(lines)
            + "\n\n`mentalglm VERB --help` lists a verb's options, each a spelling of a config key.")


def build_parser(name: str, job: bool = False) -> argparse.ArgumentParser:
    """The parser of verb `name`: its config (`--config PATH` for a Ray job), its options, `key=value` overrides."""
    verb = VERBS[name]
    prog = f"ray_jobs ({name})" if job else f"mentalglm {name}"
    parser = argparse.ArgumentParser(prog=prog, description=verb.help)
    parser.add_argument("--log-level", default="INFO", help="logging level (post text is never logged)")
    if verb.schema is None:
        parser.add_argument("files", nargs="+", metavar="METRICS", help="metrics.json files or their folders")
        return parser
    if job:
        parser.add_argument("--config", required=True, help="YAML config file")
    else:
        parser.add_argument("config", help="YAML config file")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="override a config key")
    for option in verb.options:
        kwargs = option.kwargs or {"metavar": option.key.rsplit(".", 1)[-1].upper()}
        parser.add_argument(*option.flags, dest=option.key, default=None, help=f"{option.help} ({option.key})",
                            **kwargs)
    return parser


def find_verb(words: list[str]) -> tuple[str | None, list[str]]:
    """The longest verb that `words` start with (`evaluate compare` before `evaluate`), and the words after it."""
    for n in (2, 1):
        name = " ".join(words[:n])
        if len(words) >= n and name in VERBS:
            return name, words[n:]
    return None, words


def parse_args(argv: list[str], job_verb: str | None = None) -> argparse.Namespace:
    """Parse one command: its verb (`job_verb` for a Ray job), config, options and `key=value` overrides, in any
    order. Each given option becomes the override of its config key, before the `key=value` words.

    Raises:
        SystemExit: no known verb, or a leftover word that is neither an option nor `key=value` (exit 2).
    """
    argv = list(argv)
    level = None
    while argv[:1] == ["--log-level"] and len(argv) > 1 and job_verb is None:  # `mentalglm --log-level X VERB …`
        level, argv = argv[1], argv[2:]
    name, rest = (job_verb, argv) if job_verb else find_verb(argv)
    if name is None:
        print(verb_table(), file=sys.stdout if argv[:1] in (["-h"], ["--help"]) else sys.stderr)
        raise SystemExit(0 if argv[:1] in (["-h"], ["--help"]) else 2)
    parser = build_parser(name, job=job_verb is not None)
    args, extras = parser.parse_known_args(rest)
    unknown = [word for word in extras if word.startswith("-") or "=" not in word]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    spelled = [f"{o.key}={json.dumps(getattr(args, o.key))}" for o in VERBS[name].options
               if getattr(args, o.key) is not None]
    args.verb, args.overrides = name, [*spelled, *(getattr(args, "overrides", None) or []), *extras]
    args.log_level = level or args.log_level
    return args
