"""`python -m bridge`: the operator command line."""

from bridge.cli import main

raise SystemExit(main())
