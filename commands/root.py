"""The Typer application object and its global options, no subcommand yet: each module of
``audiomanip.commands`` adds its own to ``app`` when imported (:mod:`audiomanip.commands.app`
imports them)."""

from __future__ import annotations

from typing import Any, NoReturn, Optional

import typer

from typer.core import TyperGroup

from audiomanip import __version__
from audiomanip.commands import _coercion, _common


#: Click's base exception class as Typer raises it (recent Typer ships its own copy of Click).
_ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class _OneLineUsageErrors(TyperGroup):
    """Click's usage errors (unknown option, missing argument, bad value) as one stderr line,
    ``error: … (try 'audiomanip CMD --help')``, exit code 2, like every other user error.
    Values are coerced without pydantic where Typer's result needs none (``_coercion``)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        _coercion.install(self, ctx)  # every command's parameters, before any value is coerced
        return super().parse_args(ctx, args)

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except _ClickException as exc:
            _one_line(exc)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _ClickException as exc:
            _one_line(exc)


def _one_line(exc: Any) -> NoReturn:
    if type(exc).__name__ == "NoArgsIsHelpError":  # `audiomanip` alone shows the help
        raise exc
    ctx = getattr(exc, "ctx", None)
    hint = f" (try '{ctx.command_path} --help')" if ctx is not None else ""
    raise _common.fail(exc.format_message() + hint, exc.exit_code) from None


app = typer.Typer(
    name="audiomanip",
    cls=_OneLineUsageErrors,
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
    ctx: typer.Context,
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """Turn words into audio effects."""
    _common.set_debug(debug)
    if ctx.invoked_subcommand != "train":
        _common.limit_torch_threads()
