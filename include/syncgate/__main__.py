"""``python -m syncgate``: the operator's command line (``syncgate.cli``)."""

from __future__ import annotations

import sys

from syncgate.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
