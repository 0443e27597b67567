"""`python -m server` is the `ingestd` command."""

import sys

from server.cli import main

sys.exit(main())
