"""Text as a terminal may show it: stored text never acts on the terminal (escape sequences, controls,
bidirectional overrides are shown escaped), and values are written the way a table shows them."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any


def pairs(mapping: dict) -> str:
    """{'r': 0.24, 'alpha': 4.4} -> 'r=0.24;alpha=4.4': one flat cell for CSV and tables."""
    return ";".join(f"{key}={value}" for key, value in mapping.items())


def safe_text(value: Any) -> str:
    """Stored text as shown on a terminal: control characters (escape sequences
    included) are shown as \\xNN instead of being executed."""
    if value is None:
        return ""
    if isinstance(value, dict):
        value = pairs(value)
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    if isinstance(value, Decimal):
        return f"{value:.2f}" if value.as_tuple().exponent == -2 else str(value)
    if isinstance(value, float):
        return f"{value:.2f}"
    return terminal_text(str(value))


# Invisible characters that are part of how text is written, shown as they are: the zero-width
# joiner and non-joiner (emoji sequences such as 👩‍💻, Persian and Indic scripts).
_SHOWN_FORMAT_CHARACTERS = frozenset("\u200c\u200d")
# A subdivision flag (🏴 + tag letters + cancel tag, e.g. England's): its tag characters are shown;
# tag characters anywhere else are invisible text and are escaped.
_TAG_FLAG = re.compile("\U0001F3F4[\U000E0020-\U000E007E]+\U000E007F")


def _unassigned_or_private(ch: str) -> bool:
    """Characters newer than this Python's Unicode tables (new emoji) or private-use ones: a
    terminal draws them (perhaps as a box), it does not act on them."""
    import unicodedata

    return unicodedata.category(ch) in ("Cn", "Co")


def terminal_text(text: str) -> str:
    """Text as it may be written to a terminal: every character a terminal would act on rather
    than show is escaped as \\xNN, \\uNNNN or \\UNNNNNNNN. That is the C0 and C1 controls (ESC
    starts colour, cursor, title and hyperlink sequences; 0x9b is a one-byte CSI), DEL, line
    and paragraph separators, and format characters such as the right-to-left override U+202E,
    which would reorder what follows it on the screen. Spaces other than the plain space are
    escaped too, so that no two different values look the same. Letters, marks, emoji (with
    their skin tones, flags and joiners), unassigned and private-use characters are shown."""
    if text.isprintable():
        return text
    flags = {match.start(): match.end() for match in _TAG_FLAG.finditer(text)} if "\U0001F3F4" in text else {}
    shown = []
    position = 0
    while position < len(text):
        if position in flags:
            shown.append(text[position:flags[position]])
            position = flags[position]
            continue
        ch = text[position]
        position += 1
        if ch.isprintable() or ch == " " or ch in _SHOWN_FORMAT_CHARACTERS or _unassigned_or_private(ch):
            shown.append(ch)
        else:
            code = ord(ch)
            shown.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(shown)
