"""The `mentalglm` command line: one table maps each verb to one library function.

Every verb takes a YAML config and `key=value` overrides, its whole input: each option (`--split`, …) spells one
config key. `ray_jobs/*.py` call `job_main` with their verb, so CLI and Ray jobs share this one parser.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from mentalglm.cli.parsing import build_parser, find_verb, parse_args, verb_table
from mentalglm.cli.verbs import VERBS, Option, Verb
from mentalglm.cluster.signals import sigterm_as_interrupt, stopped_by
from mentalglm.config import load_config
from mentalglm.errors import UserError

__all__ = ["VERBS", "Option", "Verb", "build_parser", "find_verb", "job_main", "main", "parse_args", "run_verb",
           "verb_table"]


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ["MENTALGLM_LOG_LEVEL"] = level.upper()  # Ray workers started from here log at the same level


def run_verb(args: argparse.Namespace) -> int:
    """Load the config of `args.verb` with its overrides and run it, SIGTERM taking the Ctrl-C path.

    Returns:
        0; 2 after a `UserError` (one message); 130 when Ctrl-C or SIGTERM stopped a verb that ends on its own
        (one line; `serve` treats either as its normal end, and exits 0).
    """
    verb = VERBS[args.verb]
    try:
        with sigterm_as_interrupt():
            if verb.schema is None:
                verb.run(args.files)
            else:
                verb.run(load_config(verb.schema, args.config, args.overrides))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{args.verb}: stopped ({stopped_by()}) before it finished", file=sys.stderr)
        return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `mentalglm` console script."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    _setup_logging(args.log_level)
    return run_verb(args)


def job_main(verb: str, argv: list[str] | None = None) -> int:
    """Entry point of `ray_jobs/*.py`: `--config PATH [options] [key=value ...]` for the one verb of that job."""
    args = parse_args(sys.argv[1:] if argv is None else argv, job_verb=verb)
    _setup_logging(args.log_level)
    return run_verb(args)

