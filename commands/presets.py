"""`audiomanip presets`: list the named presets; `audiomanip presets show NAME` prints one."""

from __future__ import annotations

import typer
from audiomanip.commands import _output as out
from audiomanip.commands._common import console, handle_errors
from audiomanip.commands.app import app
from rich.table import Table

presets_app = typer.Typer(
    name="presets",
    help="List the named presets (name, tags, description).\n\n"
    "Examples:  audiomanip presets  |  audiomanip presets --tag space  |  audiomanip presets show telephone",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(presets_app, name="presets")


@presets_app.callback(invoke_without_command=True)
@handle_errors
def list_presets(
    ctx: typer.Context,
    tag: str = typer.Option(None, "--tag", "-t", help="Only presets with this tag."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable list on stdout."),
) -> None:
    """List the named presets as a table (name, tags, one-line description)."""
    if ctx.invoked_subcommand is not None:
        return
    from audiomanip.data.corpus import load_named_presets

    named = load_named_presets()
    items = [n for n in named.values() if tag is None or tag.lower() in (t.lower() for t in n.tags)]
    items.sort(key=lambda n: n.name)
    if json_out:
        out.print_json([{"name": n.name, "tags": list(n.tags), "description": n.description} for n in items])
        return
    table = Table(
        title=f"{len(items)} named presets" + (f" tagged {tag!r}" if tag else ""),
        header_style="bold",
        box=None,
    )
    table.add_column("name", style="bold")
    table.add_column("tags", style="cyan")
    table.add_column("description")
    for n in items:
        desc = " ".join(str(n.description or "").split())
        table.add_row(n.name, ", ".join(n.tags), desc)
    console.print(table)
    console.print(
        "[dim]use one: audiomanip apply IN --preset NAME;  details: audiomanip presets show NAME[/]"
    )


@presets_app.command(
    "show",
    epilog="Example:  audiomanip presets show telephone --format yaml",
)
@handle_errors
def show(
    name: str = typer.Argument(..., help="Preset name (see `audiomanip presets`)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table | yaml | json"),
) -> None:
    """Print one named preset: its description, tags and every setting."""
    from audiomanip.errors import UsageError
    from audiomanip.preset_source import load_named

    if fmt not in ("table", "yaml", "json"):
        raise UsageError(f"--format must be table, yaml or json, got {fmt!r}")
    from audiomanip.data.corpus import get_named_preset

    named = get_named_preset(name)
    preset = load_named(name).preset
    if not preset.name:
        preset.name = named.name
    if fmt == "yaml":
        typer.echo(preset.to_yaml().rstrip("\n"))
        return
    if fmt == "json":
        typer.echo(preset.to_json())
        return
    console.print(f"[bold]{named.name}[/]  [cyan]{', '.join(named.tags)}[/]")
    if named.description:
        console.print(" ".join(str(named.description).split()))
    console.print(out.preset_table(preset))
