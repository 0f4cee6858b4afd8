"""The CLI's cheap value coercion (commands/_coercion.py) gives Typer's own results and errors.

Typer coerces each option through a pydantic adapter; the CLI takes plain values itself to skip
importing pydantic. These tests run both on every parameter of every command, on arbitrary text
and on the defaults, and require equal values (and types) or equal error messages.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("typer._coercion")

import typer.main  # noqa: E402
from typer._coercion import build_runtime_param  # noqa: E402

from audiomanip.commands import _coercion  # noqa: E402
from audiomanip.commands.app import app  # noqa: E402

SPECIAL = ["", " ", "0", "1", "-1", "+5", "007", "1_000", " 1", "1 ", "1.", ".5", "1e3", "1E-3", "-0", "inf",
           "nan", "-inf", "0x10", "1.0", "abc", "44100", "\udcff", "a\x00b", "１２", "9" * 40, "1e999",
           "warm-tape", "out.wav", "-", "~/x.wav", "a b/c.flac"]


def _parameters():
    group = typer.main.get_command(app)
    ctx = group.make_context("audiomanip", ["--help"], resilient_parsing=True)
    found = [(group, p, ctx) for p in group.get_params(ctx)]
    for name, command in group.commands.items():
        sub = command.make_context(name, [], parent=ctx, resilient_parsing=True)
        found += [(command, p, sub) for p in command.get_params(sub)]
    return [(c, p, x) for c, p, x in found if getattr(p, "type_descriptor", None) is not None]


PARAMETERS = _parameters()


def _outcome(runtime, value, param, ctx):
    try:
        result = runtime.coerce(value, param=param, ctx=ctx)
    except Exception as exc:  # noqa: BLE001 - the message is what is compared
        return ("error", type(exc).__name__, exc.format_message() if hasattr(exc, "format_message") else str(exc))
    return ("value", type(result), result)


def _same(a, b):
    if a[0] == "value" and b[0] == "value" and isinstance(a[2], float) and a[2] != a[2]:
        return b[1] is float and b[2] != b[2]  # nan
    return a == b


def _check(value):
    for command, param, ctx in PARAMETERS:
        descriptor = param.type_descriptor
        typer_way = build_runtime_param(descriptor)
        cheap = _coercion.CheapCoercion(parameter_info=descriptor.parameter_info,
                                        annotation=descriptor.annotation, descriptor=descriptor)
        a, b = _outcome(typer_way, value, param, ctx), _outcome(cheap, value, param, ctx)
        assert _same(a, b), f"{command.name} {param.name} {value!r}: typer {a}, cheap {b}"


@pytest.mark.parametrize("value", SPECIAL)
def test_cheap_coercion_equals_typers_on_special_text(value):
    _check(value)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=12), st.from_regex(r"[+-]?[0-9]{0,6}(\.[0-9]{0,4})?([eE][+-]?[0-9]{1,3})?",
                                                    fullmatch=True)))
def test_cheap_coercion_equals_typers_on_any_text(value):
    _check(value)


def test_cheap_coercion_equals_typers_on_defaults_and_typed_values():
    for value in [None, 1.0, 0.25, 3, 48000, True, False, Path("output"), Path("runs/train")]:
        _check(value)


def test_cheap_coercion_is_what_the_cli_runs_and_plain_values_import_no_pydantic(tmp_path):
    code = (
        "import sys\n"
        "from audiomanip.commands.app import main\n"
        "sys.argv = ['audiomanip', 'presets', 'show', 'warm-tape']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print('pydantic' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_a_bad_number_gets_typers_message():
    out = subprocess.run([sys.executable, "-m", "audiomanip", "apply", "x.wav", "--preset", "lo-fi",
                          "--strength", "lots"], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip() == ("error: Invalid value for '--strength': Input should be a valid number, "
                                  "unable to parse string as a number (try 'audiomanip apply --help')")
