"""The audiomanip CLI: ``app``, the Typer application with every subcommand registered, and
``main``, the console-script entry point, which registers only the subcommand its command line
names (importing the other five costs about 10 ms of every start).

``from audiomanip.commands.app import app`` registers every subcommand; the application object
itself is :data:`audiomanip.commands.root.app`.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from audiomanip.commands import root

#: The module of each subcommand (importing it adds the command to ``root.app``).
COMMAND_MODULES = {"apply": "apply", "batch": "batch", "export-preset": "export_preset", "presets": "presets",
                   "train": "train", "eval": "eval"}


def _register(names: list[str] | None = None) -> None:
    """Import the modules of the subcommands ``names`` (default: all); each adds its command(s)
    to ``root.app``. A module whose extra is missing is left out."""
    for name in COMMAND_MODULES if names is None else names:
        module = f"audiomanip.commands.{COMMAND_MODULES[name]}"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def named_command(args: list[str]) -> str | None:
    """The subcommand a command line (without the program name) runs, when that is certain: its
    first word that is not an option (the global options take no value) names one; else None
    (no subcommand, an unknown word, shell completion), which needs every subcommand."""
    if any(key.startswith("_") and key.endswith("_COMPLETE") for key in os.environ):
        return None
    first = next((a for a in args if not a.startswith("-")), None)
    return first if first in COMMAND_MODULES else None


def __getattr__(name: str) -> Any:
    if name == "app":
        _register()
        return root.app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Console-script entry point."""
    command = named_command(sys.argv[1:])
    _register([command] if command else None)
    root.app(prog_name="audiomanip")


if __name__ == "__main__":
    main()
