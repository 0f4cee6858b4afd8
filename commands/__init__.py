"""The ``audiomanip`` command line: one Typer app, one thin module per subcommand.

Installed as ``audiomanip.commands`` (see pyproject.toml); the library never imports it.
"""
