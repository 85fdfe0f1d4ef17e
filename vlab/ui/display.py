"""How the views write numbers and records: addresses, registers, selectors and qualifications
in hex as the SDM writes them, counts in decimal, and a record as a small table, never a Python
dict. Every style is inline and explicit (JupyterLab's output CSS right-aligns and centres
tables, and ipywidgets shrinks what it lays out), so a view reads the same in any front end.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping

from ..i18n import tr

#: Numbers a student reads in decimal (counts, indexes, rings, cycles, sizes); every other
#: integer (addresses, selectors, qualifications, register values) is written in hex.
DECIMAL = frozenset({"index", "cost", "cpl", "reason_number", "vector", "size", "count", "number",
                     "instructions", "blocks", "translated", "hits", "misses", "invalidated",
                     "executions", "runs", "cycles", "exits", "entries", "callouts", "IOPL",
                     "iopl", "ticks", "length", "level", "ring"})
#: Words in a key that say it counts something (``hidden_faults``, ``EPT pages mapped``).
_COUNTING = re.compile(r"(^|[_ ])(faults?|misses|syncs|loads|pages|tables|directories|violations"
                       r"|entries|count|mapped|pinned|hits|calls|updates)([_ ]|$)", re.I)

TABLE = ("border-collapse:collapse;table-layout:auto;margin:0;width:auto;max-width:100%;"
         "text-align:left")
CELL = "text-align:left;vertical-align:top;padding:1px 8px 1px 0;white-space:nowrap"
#: A cell whose text may wrap (between words only).
WRAP = ("text-align:left;vertical-align:top;padding:1px 8px 1px 0;white-space:normal;"
        "word-break:normal;overflow-wrap:normal")


def h(text: object) -> str:
    """HTML-escaped text."""
    return html.escape(str(text))


def text(words: object) -> str:
    """Text for an element's content: ``<``, ``>`` and ``&`` escaped, quotes left as they are
    (an attribute's value takes :func:`h`)."""
    return html.escape(str(words), quote=False)


def hx(value: int, width: int = 8) -> str:
    """An address or register: ``0x`` and ``width`` hex digits."""
    return f"{value:#0{width + 2}x}"


def counts(key: str) -> bool:
    """Does a record's ``key`` name a count (written in decimal)?"""
    return key in DECIMAL or bool(_COUNTING.search(key))


def value_text(key: str, value: object, numbers: str = "by key") -> str:
    """One value of a record as text. Integers: in hex (an address, ``0x`` and 8 digits) unless
    ``key`` names a count; ``numbers="decimal"`` for a record of counters."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        if numbers == "decimal" or (numbers == "by key" and counts(key)):
            return f"{value:,}"
        return f"{value:#010x}" if value >= 0x10000 else f"{value:#x}"
    if isinstance(value, (tuple, list)):
        return ", ".join(value_text(key, v, numbers) for v in value) or tr("(none)")
    if isinstance(value, (bytes, bytearray)):
        return value.hex(" ") or tr("(none)")
    text = getattr(value, "text", None)  # a record that writes itself for the views (FaultRecord)
    return text() if callable(text) else str(value)


def record(mapping: Mapping, *, numbers: str = "by key", css: str = "",
           style: str = "font-size:85%", label: Callable[[str], str] = str) -> str:
    """A mapping as a two-column table (a nested mapping as a table inside its cell). Each key
    is shown as ``label(key)`` (its translation), its value written as the key says."""
    rows = []
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            shown = (record(value, numbers=numbers, style="", label=label) if value
                     else h(label("(none)")))
        else:
            shown = f"<code>{h(value_text(str(key), value, numbers))}</code>"
        rows.append(f"<tr><td style='{CELL}'>{h(label(str(key)))}</td>"
                    f"<td style='{WRAP}'>{shown}</td></tr>")
    cls = f" class='{css}'" if css else ""
    return f"<table{cls} style='{TABLE};{style}'>{''.join(rows)}</table>"


def svg_in_px(svg: str) -> str:
    """Graphviz's SVG sized in CSS pixels instead of points (3/4 of the size: its 10-point
    labels still read, and a walk drawn left to right needs less scrolling)."""
    head, sep, rest = svg.partition(">")
    head = re.sub(r'(\b(?:width|height)="[\d.]+)pt"', r'\1px"', head)
    return head + sep + rest


def fit_svg(svg: str) -> str:
    """Graphviz's SVG scaled down to its container's width (never wider than its place)."""
    return re.sub(r"<svg\b", "<svg style='max-width:100%;height:auto;display:block'", svg, count=1)


#: A box that scrolls sideways what is wider than the view (a drawing at a readable size),
#: without making the view wider: inline-size containment keeps its content out of the
#: view's minimum width.
SCROLL = "width:100%;max-width:100%;overflow-x:auto;contain:inline-size"

#: Text the widget's boxes wrap instead of spilling (CSS for an ipywidgets ``HTML``'s content).
BLOCK = "display:block;text-align:left;max-width:100%;overflow-wrap:normal;word-break:normal"


def block(content: str) -> str:
    """A view's HTML in a left-aligned block with a reading line height (ipywidgets gives an
    HTML widget's text the line height of a row of buttons, 28 px)."""
    return f"<div style='line-height:1.4;text-align:left'>{content}</div>"
