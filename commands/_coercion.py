"""Typer's value coercion without importing pydantic for the values a command line usually holds.

Typer (0.26 and later) turns every option's value into its annotated type through a pydantic
``TypeAdapter``, built for each parameter of the command being run, unset options included.
Importing pydantic and building those adapters costs about 70 ms of a cold ``apply`` of about
0.5 s. Most values need none of that: a ``str`` stays as it is, a ``Path`` is ``Path(text)``, a
plain decimal number is what ``int()`` / ``float()`` read, and defaults already have their type.

:func:`install` gives each parameter of a Typer command a :class:`CheapCoercion`, which takes
those cases itself and hands every other value (``"1_000"``, ``" 1"``, ``"abc"``, a bound, a
parser, an unusual type) to the adapter Typer would have built, built only then. Results and
error messages are Typer's own either way: ``tests/test_cli_coercion.py`` compares both on
arbitrary text for every parameter of the CLI. Typer's parameters keep their coercion in a
private attribute; with a Typer that lacks it, :func:`install` leaves the command as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:  # private to Typer: with a Typer that lacks it, commands keep Typer's own coercion
    from typer._coercion import RuntimeParam, build_runtime_param
    from typer._param_types import coerce_cli_path
except ImportError:  # pragma: no cover - depends on the installed Typer
    RuntimeParam = None  # type: ignore[assignment,misc]

#: Text that ``int()`` and pydantic read alike: ASCII digits with an optional sign.
_INT = re.compile(r"[+-]?[0-9]{1,18}")
#: Text that ``float()`` and pydantic read alike (both round correctly): a plain decimal.
_FLOAT = re.compile(r"[+-]?(?:[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})(?:[eE][+-]?[0-9]{1,3})?")


def _cheap_value(annotation: Any, value: Any) -> tuple[bool, Any]:
    """``(True, coerced)`` where the value's coercion needs no adapter, else ``(False, None)``."""
    kind = type(value)
    if annotation is str:
        if kind is str:
            return True, value
    elif annotation is Path:
        if isinstance(value, Path):
            return True, value
        if kind is str:
            return True, Path(value)
    elif annotation is float:
        if kind is float:
            return True, value
        if kind is str and _FLOAT.fullmatch(value):
            return True, float(value)
    elif annotation is int:
        if kind is int:
            return True, value
        if kind is str and _INT.fullmatch(value):
            return True, int(value)
    return False, None


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class CheapCoercion(RuntimeParam):
        """A parameter's coercion: plain values here, the rest by Typer's pydantic adapter."""

        descriptor: Any = None
        _built: dict = field(default_factory=dict, compare=False, repr=False)

        def _typer_runtime(self) -> Any:
            if "runtime" not in self._built:
                self._built["runtime"] = build_runtime_param(self.descriptor)
            return self._built["runtime"]

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            info = self.parameter_info
            plain = (info.parser is None and info.min is None and info.max is None
                     and getattr(info, "path_type", None) is None)
            done, coerced = _cheap_value(self.annotation, value) if plain else (False, None)
            if not done:
                return self._typer_runtime()._coerce_value(value, param=param, ctx=ctx)
            if self.annotation is Path:  # Typer's own checks (exists, resolve_path …)
                try:
                    return coerce_cli_path(coerced, info, path_type=Path, param=param, ctx=ctx)
                except ValueError:  # a name the OS refuses ("embedded null byte"): Typer's message
                    return self._typer_runtime()._coerce_value(value, param=param, ctx=ctx)
            return coerced


def install(command: Any, ctx: Any) -> None:
    """Give each Typer parameter of ``command`` (its ``get_params(ctx)``: its own and the help
    option, whose names come from ``ctx``) and of its subcommands, nested groups included, a
    :class:`CheapCoercion`; a parameter that already has a coercion keeps it."""
    if RuntimeParam is None:  # pragma: no cover - depends on the installed Typer
        return
    for param in command.get_params(ctx):
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or getattr(param, "_runtime_param", "absent") is not None:
            continue
        if descriptor.file_annotation is not None or descriptor.is_choice:
            continue  # files and choices: Typer's own coercion
        param._runtime_param = CheapCoercion(
            parameter_info=descriptor.parameter_info, annotation=descriptor.annotation, descriptor=descriptor
        )
    for sub in (getattr(command, "commands", None) or {}).values():
        install(sub, ctx)
