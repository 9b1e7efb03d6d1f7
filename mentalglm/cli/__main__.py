"""`python -m mentalglm.cli`: the `mentalglm` command."""

from mentalglm.cli import main

raise SystemExit(main())
