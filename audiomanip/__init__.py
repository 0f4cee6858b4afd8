"""audiomanip: words to audio effects.

The library's three verbs (see README.md):

- :func:`audiomanip.checkpoint.load_model` -> a model whose ``predict(prompt, audio=None)``
  returns a :class:`~audiomanip.params.Preset`;
- :func:`audiomanip.render.render_file` / :func:`audiomanip.render.render` apply a Preset;
- :class:`audiomanip.params.Preset` reads and writes preset files.

Importing this package is cheap: torch and friends load only when used.
"""

__version__ = "0.1.0"
