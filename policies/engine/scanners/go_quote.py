"""Text as Go's ``%q`` verb prints it (``strconv.Quote``), for error messages that quote a word.

BuildKit and Compose quote the offending word with ``%q``; the scanners repeat their messages,
so they quote it the same way.
"""

from __future__ import annotations

_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def go_quote(text: str) -> str:
    """``text`` in double quotes with Go's escapes, as ``fmt.Sprintf("%q", text)`` writes it.

    Printable characters stay as they are; ``"`` and ``\\`` are escaped; the other control
    characters become ``\\a``-style escapes, ``\\xNN`` (below U+0080), ``\\uNNNN`` or
    ``\\UNNNNNNNN``. A byte that was not UTF-8 (decoded with ``surrogateescape``) is ``\\xNN``,
    as Go writes an invalid byte.
    """
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)
