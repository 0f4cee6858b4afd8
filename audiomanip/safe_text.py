"""User text made safe to show on a terminal or to write into a line-oriented file.

Prompts, file names, preset names and labels come from the user (or from a file somebody sent
them). Shown raw, an ESC starts a terminal escape sequence (colours, window titles, clearing the
screen, OSC sequences that swallow what follows), a bidi override reverses what the reader sees,
and a newline forges a line of ``metadata.txt``. :func:`printable` is the one function every
such text goes through before it is printed or written to a line-oriented file: it escapes those
characters visibly and leaves everything else as it is.
"""

from __future__ import annotations

import re

#: Bidirectional formatting characters (overrides, embeddings, isolates, marks).
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"

#: C0 controls, DEL, C1 controls, line/paragraph separators, bidi controls, and lone surrogates
#: (bytes of a file name that are not UTF-8, as Python's surrogateescape keeps them).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029" + BIDI_CONTROLS + "\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m: re.Match) -> str:
    c = m.group(0)
    if c in _NAMED:
        return _NAMED[c]
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object) -> str:
    """``str(text)`` with every control character, bidi control, line/paragraph separator and
    lone surrogate replaced by a visible escape: ESC → ``\\x1b``, BEL → ``\\x07``, newline →
    ``\\n``, U+202E → ``\\u202e``. Everything else (accents, CJK, emoji, brackets) is kept."""
    return _UNSAFE.sub(_escape, str(text))
