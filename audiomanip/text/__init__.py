"""Text encoders behind one protocol.

``load_text_encoder(name_or_path=None, device="cpu")`` returns a :class:`TextEncoder` whose
``encode(list[str])`` gives an :class:`EncodedText` (tokens float32 [B, L, D], mask bool [B, L],
pooled [B, D] L2-normalised, truncated list[bool]). Encoders: the default all-MiniLM-L6-v2
(fast-start pure-torch path, :mod:`audiomanip.text.light_bert`), any sentence-transformers model
(:mod:`audiomanip.text.st_encoder`) and CLAP (:mod:`audiomanip.text.clap`, optional extra).

Importing this package is cheap: torch, tokenizers and sentence-transformers load only when an
encoder is loaded.
"""

from audiomanip.text.loader import BACKENDS, default_model_folder, is_default_encoder, load_text_encoder
from audiomanip.text.types import DEFAULT_TEXT_ENCODER, EncodedText, TextEncoder

__all__ = [
    "BACKENDS",
    "DEFAULT_TEXT_ENCODER",
    "EncodedText",
    "TextEncoder",
    "default_model_folder",
    "is_default_encoder",
    "load_text_encoder",
]
