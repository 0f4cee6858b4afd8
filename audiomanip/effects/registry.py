"""The effect registry: every effect of the chain declared once, with everything that runs it.

Each effect ``name`` of :data:`audiomanip.params.SCHEMA` has one module,
``audiomanip/effects/<name>.py``, that ends with ``EFFECT = EffectEntry(...)``:

* ``schema``: its entry in :data:`audiomanip.params.SCHEMA` (parameters, units, ranges, defaults,
  bands, description; the README's schema table rows come from it, :meth:`Effect.table_rows`);
* ``torch_function``: the differentiable function ``f(x [B, C, T][, sample_rate], **params)``
  whose keyword names are the schema's parameter names (None: learned through the parameter loss
  only, as pitch);
* ``render_stage``: the streaming :class:`audiomanip.rendering.stage.Stage` class the renderer
  builds with ``render_stage.in_chain(values, sample_rate, channels, tail=...)``;
* ``ffmpeg_filter``: ``f(values, settings) -> str | None``, the effect as an ``ffmpeg -af``
  fragment (None or "" when it would do nothing), ``settings`` an
  :class:`audiomanip.export.FfmpegSettings`;
* ``response_db`` (optional): ``f(values, sample_rate, freqs_hz [F]) -> dB [F]``, the magnitude
  response of an effect that is a linear filter (the EQ), which the plot draws.

:data:`REGISTRY` holds them in the schema's order. The renderer
(:class:`audiomanip.rendering.ChainRenderer`), the ffmpeg export
(:func:`audiomanip.export.ffmpeg_filter_chain`), the torch chain
(:func:`audiomanip.effects.chain.run_chain`) and the plot
(:func:`audiomanip.plot.eq_curve_db`) iterate over it and take a ``registry`` argument, so a test
can run them on a copy with one more effect (:meth:`EffectRegistry.with_effect`).

Importing this module imports no effect module; the registry loads them on first use.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from audiomanip.params import SCHEMA, Effect

if TYPE_CHECKING:
    import numpy as np

    from audiomanip.export import FfmpegSettings
    from audiomanip.rendering.stage import Stage


@dataclass(frozen=True)
class EffectEntry:
    """One effect: its schema entry and its four implementations (see the module doc)."""

    schema: Effect
    render_stage: type[Stage]
    ffmpeg_filter: Callable[[Mapping[str, Any], FfmpegSettings], str | None]
    torch_function: Callable[..., Any] | None = None
    response_db: Callable[[Mapping[str, Any], float, np.ndarray], np.ndarray] | None = None

    @property
    def name(self) -> str:
        return self.schema.name

    @functools.cached_property
    def torch_parameter_names(self) -> tuple[str, ...]:
        """Keyword names of :attr:`torch_function` after ``x`` and (if taken) ``sample_rate``."""
        if self.torch_function is None:
            return ()
        names = list(inspect.signature(self.torch_function).parameters)
        return tuple(n for n in names[1:] if n != "sample_rate")

    @functools.cached_property
    def torch_takes_sample_rate(self) -> bool:
        return self.torch_function is not None and (
            "sample_rate" in inspect.signature(self.torch_function).parameters)

    def run_torch(self, x: Any, sample_rate: float, params: Mapping[str, Any]) -> Any:
        """:attr:`torch_function` on ``x [B, C, T]`` with ``params`` (``{name: Tensor[B] or
        [B, bands]}``), passing ``sample_rate`` when it takes one."""
        if self.torch_function is None:
            raise ValueError(f"effect {self.name!r} has no differentiable function")
        if self.torch_takes_sample_rate:
            return self.torch_function(x, sample_rate, **params)
        return self.torch_function(x, **params)


class EffectRegistry(Mapping[str, EffectEntry]):
    """``{effect name: EffectEntry}`` in processing order (a read-only mapping).

    :meth:`from_schema` builds the real one lazily from the effect modules; :meth:`with_effect`
    returns a copy with one more entry (for tests and experiments: the schema is untouched).
    """

    def __init__(self, load: Callable[[], Sequence[EffectEntry]]):
        self._load = load
        self._entries: dict[str, EffectEntry] | None = None

    @classmethod
    def from_schema(cls, schema: Sequence[Effect] = SCHEMA) -> EffectRegistry:
        """The registry of every effect of ``schema``: ``audiomanip.effects.<name>.EFFECT``,
        imported on first use."""

        def load() -> list[EffectEntry]:
            entries = []
            for eff in schema:
                module_name = f"audiomanip.effects.{eff.name}"
                try:
                    module = importlib.import_module(module_name)
                except ModuleNotFoundError as exc:
                    if exc.name != module_name:
                        raise
                    raise LookupError(
                        f"effect {eff.name!r} is in the schema but has no module {module_name}") from None
                entry = getattr(module, "EFFECT", None)
                if not isinstance(entry, EffectEntry) or entry.schema is not eff:
                    raise LookupError(
                        f"{module_name}.EFFECT must be an EffectEntry of the schema's {eff.name!r} entry")
                entries.append(entry)
            return entries

        return cls(load)

    @classmethod
    def of(cls, entries: Sequence[EffectEntry]) -> EffectRegistry:
        """A registry of ``entries`` in that order."""
        entries = list(entries)
        return cls(lambda: entries)

    @property
    def entries(self) -> dict[str, EffectEntry]:
        if self._entries is None:
            loaded = list(self._load())
            names = [e.name for e in loaded]
            if len(set(names)) != len(names):
                raise ValueError(f"an effect is registered twice: {names}")
            self._entries = {e.name: e for e in loaded}
        return self._entries

    def __getitem__(self, name: str) -> EffectEntry:
        try:
            return self.entries[name]
        except KeyError:
            raise KeyError(f"unknown effect {name!r}; registered: {', '.join(self.entries)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        return f"EffectRegistry({', '.join(self.entries)})"

    def with_effect(self, entry: EffectEntry, *, after: str | None = None) -> EffectRegistry:
        """A copy with ``entry`` inserted after effect ``after`` (default: at the end)."""
        entries = list(self.entries.values())
        at = len(entries) if after is None else list(self.entries).index(after) + 1
        return EffectRegistry.of([*entries[:at], entry, *entries[at:]])


#: Every effect of the schema, in processing order.
REGISTRY: EffectRegistry = EffectRegistry.from_schema()
