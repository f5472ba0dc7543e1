"""How wide chart text may be drawn, so that the charts (laid out at build time, without the
visitor's font) cut a name before it leaves its drawing.

The charts ask for the system's sans-serif font. Each character counts with the larger of its
advances in DejaVu Sans (the widest common sans-serif, the Linux default) and Liberation Sans
(Arial's metrics), rounded up to 0.05 em: San Francisco, Segoe UI and Roboto are narrower, so a
text measured here is never drawn wider. Bold text (chart titles) counts 1.25 times as wide, the
largest ratio of those fonts' bold faces to these widths. A character not listed (other scripts,
emoji) counts as 1.2 em. An average width, by contrast, lets names of wide characters ('<math>',
'WM') run past the edge.
"""

from __future__ import annotations

ELLIPSIS = "\u2026"
BOLD = 1.25
UNLISTED = 1.2

# Advance widths in em, by the characters that have them.
_WIDTHS = {
    0.30: "'Iijl",
    0.35: " ,./:;\\|\u00b7",
    0.40: "()-[]ft",
    0.45: "!r",
    0.50: '"*J`\u00b0',
    0.55: "csz",
    0.60: "?L_kvxy\u2013",
    0.65: "$0123456789FTabdeghnopqu{}",
    0.70: "ABEKPSVXYZ",
    0.75: "CNRU",
    0.80: "&DGHOQ",
    0.85: "#+<=>^w~\u2248\u00d7",
    0.90: "M",
    1.00: "%Wm\u2026\u2192\u2014",
    1.05: "@",
}
EM = {char: width for width, chars in _WIDTHS.items() for char in chars}


def text_width(text: str, size: float, bold: bool = False) -> float:
    """The most room `text` takes at font size `size` (px)."""
    return sum(EM.get(char, UNLISTED) for char in text) * size * (BOLD if bold else 1.0)


def fit(text: str, width: float, size: float, bold: bool = False) -> str:
    """`text` if it fits in `width` px, else its longest start that fits followed by an ellipsis."""
    if text_width(text, size, bold) <= width:
        return text
    room = width - text_width(ELLIPSIS, size, bold)
    used, keep = 0.0, 0
    for char in text:
        used += text_width(char, size, bold)
        if used > room:
            break
        keep += 1
    return text[:keep].rstrip() + ELLIPSIS
