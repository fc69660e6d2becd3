"""``python -m gdpr_vault.clocks START DURATION [...]``: same as ``gdpr-vault deadline``."""

import sys

from .cli import main

sys.exit(main())
