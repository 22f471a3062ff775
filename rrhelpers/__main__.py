"""``python -m rrhelpers train ...`` (training, :mod:`rrhelpers.learning.train_cli`),
``python -m rrhelpers convert ...`` (checkpoint conversion, :mod:`rrhelpers.networks.convert`) and
``python -m rrhelpers report ...`` (the perceptual alignment report of any classifier, :mod:`rrhelpers.book.report`)."""

from __future__ import annotations

import sys

COMMANDS = {"train": "rrhelpers.learning.train_cli", "convert": "rrhelpers.networks.convert",
            "report": "rrhelpers.book.report"}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m rrhelpers {{{','.join(COMMANDS)}}} [options]   (--help after a command for its options)",
              file=sys.stderr)
        return 2
    import importlib

    return importlib.import_module(COMMANDS[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
