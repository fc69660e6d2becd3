"""``python -m exporters``: the CLI entry point."""

import sys

from exporters.cli import main

sys.exit(main())
