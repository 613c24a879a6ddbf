"""`python -m prolong ...` is the `prolong` command (prolong.cli)."""

from prolong.cli import main

raise SystemExit(main())
