"""`audiomanip presets`: list the named presets; `audiomanip presets show NAME` prints one."""

from __future__ import annotations

import typer
from audiomanip.commands import _output as out
from audiomanip.commands._common import console, handle_errors
from audiomanip.commands.root import app
from rich.table import Table

presets_app = typer.Typer(
    name="presets",
    help="List the named presets (name, tags, description); `presets words` lists the words with a "
    "grounded target.\n\n"
    "Examples:  audiomanip presets  |  audiomanip presets --tag space  |  audiomanip presets show telephone  |  "
    "audiomanip presets words warm",
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
    from audiomanip.vocab.named_presets import load_named_presets

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
    from audiomanip.vocab.named_presets import get_named_preset

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


@presets_app.command(
    "words",
    epilog="Examples:  audiomanip presets words  |  audiomanip presets words warm  |  "
    "audiomanip presets words echo --json",
)
@handle_errors
def words(
    query: str = typer.Argument(None, help="Only words or phrases with a word that starts with this text."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable list on stdout."),
    limit: int = typer.Option(50, "--limit", "-n", metavar="N",
                              help="Rows of the table (the JSON list is always complete; 0 = all)."),
) -> None:
    """List the words and short phrases with a grounded target: the authored descriptor forms
    (presets/descriptors.yaml) and the words listeners used in the SocialFX crowd data
    (presets/crowd_words.json), with crowd counts per effect and source tags."""
    from audiomanip.vocab.crowd import vocabulary
    from audiomanip.errors import UsageError

    if limit < 0:
        raise UsageError(f"--limit must be 0 or more, got {limit}")
    entries = vocabulary(query)
    if json_out:
        out.print_json([e.to_dict() for e in entries])
        return
    # most-used first in the table; authored forms before crowd-only words of the same count
    shown = sorted(entries, key=lambda e: (-sum(e.counts.values()), "authored" not in e.sources, e.word))
    if limit:
        shown = shown[:limit]
    title = f"{len(entries)} words" + (f" matching {query!r}" if query else "") + " with a grounded target"
    table = Table(title=title, header_style="bold", box=None)
    table.add_column("word", style="bold")
    table.add_column("source", style="cyan")
    table.add_column("EQ", justify="right")
    table.add_column("reverb", justify="right")
    table.add_column("comp", justify="right")
    table.add_column("conf.", justify="right")
    table.add_column("descriptor")
    for e in shown:
        table.add_row(
            e.word + (" [dim](held out)[/]" if e.heldout else ""),
            ", ".join(dict.fromkeys(s.split("-")[0] for s in e.sources)),
            *(str(e.counts.get(k, "")) for k in ("eq", "reverb", "compressor")),
            f"{e.confidence:.2f}" if e.counts else "",
            e.descriptor or "",
        )
    console.print(table)
    if limit and len(entries) > len(shown):
        console.print(f"[dim]{len(entries) - len(shown)} more: --limit 0 shows all, --json lists all[/]")
    console.print("[dim]EQ: crowd sessions; reverb, comp: crowd uses; conf.: crowd confidence (0-1); "
                  "source: SocialFX crowd data and presets/descriptors.yaml[/]")
