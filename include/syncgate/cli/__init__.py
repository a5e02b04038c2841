"""The ``python -m syncgate`` command line: argparse commands over the engine's own modules."""
