"""Making untrusted text safe to print: no terminal escape sequences, no control characters, bounded length.

A record id or a file name from a bundle reaches the supervisor's terminal inside an error message;
an escape sequence in it could rewrite the screen or the window title, so every message built from
such a value passes through `clean` first.
"""

from __future__ import annotations

import re

# ESC-started sequences (CSI, OSC, DCS, …, up to their terminator), then single control characters:
# C0 except nothing, DEL, C1, and the bidirectional overrides that reorder what is shown
_ESCAPES = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_]|.?)"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]",
    re.DOTALL,
)


def clean(value: object, limit: int | None = None, *, lines: bool = False) -> str:
    """`value` as text without escape sequences or control characters (a newline, tab or carriage
    return becomes a space; with `lines`, a message of several lines or tab-separated columns,
    newlines and tabs stay), cut to `limit` characters with an ellipsis when given."""
    text = value if isinstance(value, str) else str(value)

    def replaced(m: re.Match[str]) -> str:
        found = m.group(0)
        if lines and found in ("\n", "\t"):
            return found
        return " " if found in ("\n", "\t", "\r") else ""

    out = _ESCAPES.sub(replaced, text)
    if limit is not None and len(out) > limit:
        out = out[: max(limit - 1, 0)] + "…"
    return out
