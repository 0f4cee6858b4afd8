"""The Typer application: global options and registration of every subcommand."""

from __future__ import annotations

from typing import Optional

import typer

from audiomanip import __version__
from audiomanip.commands import _common

app = typer.Typer(
    name="audiomanip",
    help=(
        "Turn words into audio effects.\n\n"
        "Example:  audiomanip apply vocals.wav \"warm vintage tape with a small room\""
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"audiomanip {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """Turn words into audio effects."""
    _common.set_debug(debug)


def _register() -> None:
    """Import each subcommand module; each adds its command(s) to ``app``."""
    import importlib

    for module in ("apply", "batch", "export_preset", "presets", "train", "eval"):
        try:
            importlib.import_module(f"audiomanip.commands.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"audiomanip.commands.{module}":
                raise


_register()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="audiomanip")


if __name__ == "__main__":
    main()
