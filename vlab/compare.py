"""One guest under several strategies, side by side: console, exits by reason, cost, time."""

from __future__ import annotations

import html
import textwrap
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Run:
    """One strategy's run of the guest."""

    strategy: str
    status: str
    console: str
    instructions: int
    exits: dict[str, int]
    total_exits: int
    cycles: int  # modelled cycles spent in the monitor
    wall_time: float  # seconds, measured
    error: str | None = None
    entries: int = 0  # transitions into the monitor: traps, VM exits, hypercalls
    callouts: int = 0  # binary translation's calls from translated code (no transition)
    memory: dict = field(default_factory=dict)  # the monitor's MMU counters
    inline: int = 0  # binary translation's inline emulations (no call, no transition)


@dataclass
class Comparison:
    """The result of :meth:`vlab.lab.Lab.compare`."""

    guest: str
    runs: dict[str, Run] = field(default_factory=dict)

    @property
    def strategies(self) -> list[str]:
        return list(self.runs)

    def lines(self, strategy: str) -> list[str]:
        return self.runs[strategy].console.splitlines()

    def first_divergence(self, a: str | None = None, b: str | None = None) -> int | None:
        """Index of the first console line where strategy ``b`` differs from ``a`` (default: the
        first strategy against each other one, the earliest), or None if all agree."""
        names = self.strategies
        a = a or names[0]
        others = [b] if b else [n for n in names if n != a]
        found = None
        for o in others:
            la, lb = self.lines(a), self.lines(o)
            for i in range(max(len(la), len(lb))):
                if i >= len(la) or i >= len(lb) or la[i] != lb[i]:
                    found = i if found is None else min(found, i)
                    break
        return found

    def differing_lines(self, a: str, b: str) -> list[tuple[int, str, str]]:
        """(index, line under a, line under b) for every line that differs."""
        la, lb = self.lines(a), self.lines(b)
        out = []
        for i in range(max(len(la), len(lb))):
            x = la[i] if i < len(la) else ""
            y = lb[i] if i < len(lb) else ""
            if x != y:
                out.append((i, x, y))
        return out

    def table(self) -> list[dict[str, Any]]:
        """One row per strategy: status, instructions, monitor entries, modelled cycles, time."""
        return [{"strategy": r.strategy, "status": r.status, "instructions": r.instructions,
                 "exits": r.total_exits, "entries": r.entries, "callouts": r.callouts,
                 "modelled_cycles": r.cycles, "wall_ms": round(r.wall_time * 1000, 2)}
                for r in self.runs.values()]

    #: The text form's width in characters: the side-by-side columns share it, and a console
    #: line longer than its column wraps inside it (never cut); the differences follow in full.
    text_width = 100

    def __str__(self) -> str:
        names = self.strategies
        cols = [self.lines(n) for n in names]
        longest = max([len(n) for n in names] + [len(x) for c in cols for x in c] + [10])
        share = (self.text_width - 2 - 3 * (len(names) - 1)) // max(1, len(names))
        width = min(longest, max(16, share))
        base = cols[0]
        out = [("  " + " | ".join(n.ljust(width) for n in names)).rstrip()]
        for i in range(max(len(c) for c in cols)):
            cells = [c[i] if i < len(c) else "" for c in cols]
            mark = "!" if any(x != (base[i] if i < len(base) else "") for x in cells[1:]) else " "
            wrapped = [_wrap(x, width) for x in cells]
            for k in range(max(len(w) for w in wrapped)):
                parts = [w[k] if k < len(w) else "" for w in wrapped]
                out.append(((mark if k == 0 else " ") + " "
                            + " | ".join(p.ljust(width) for p in parts)).rstrip())
        diffs = self._differences()
        if diffs:
            out.append("")
            out.append(f"lines that differ from {names[0]} (marked !), in full:")
            pad = max(len(n) for n in names)
            for i, lines in diffs:
                out.append(f"  line {i + 1}:")
                out.extend(f"    {n.ljust(pad)}  {x}" for n, x in lines)
        out.append("")
        for row in self.table():
            out.append(f"{row['strategy']:>20}: {row['status']}, {row['instructions']:,} instructions, "
                       f"{row['entries']:,} monitor entries + {row['callouts']:,} callouts, "
                       f"{row['modelled_cycles']:,} modelled cycles, {row['wall_ms']} ms")
        return "\n".join(out)

    def _differences(self) -> list[tuple[int, list[tuple[str, str]]]]:
        """(line index, [(strategy, its line)]) for each console line where a strategy differs
        from the first."""
        names = self.strategies
        cols = [self.lines(n) for n in names]
        out = []
        for i in range(max((len(c) for c in cols), default=0)):
            cells = [c[i] if i < len(c) else "" for c in cols]
            if any(x != cells[0] for x in cells[1:]):
                out.append((i, list(zip(names, cells, strict=True))))
        return out

    def _repr_html_(self) -> str:
        # Inline styles only (JupyterLab's output CSS right-aligns and centres tables): cells
        # left-aligned, console lines whole, wrapping between words; a table too wide for the
        # output scrolls sideways instead of being cut.
        cell = ("text-align:left;vertical-align:top;padding:1px 10px 1px 0;white-space:pre-wrap;"
                "word-break:normal;overflow-wrap:normal;font-family:var(--jp-code-font-family,"
                "monospace)")
        num = "text-align:left;vertical-align:top;padding:1px 10px 1px 0;white-space:nowrap"
        table = "border-collapse:collapse;table-layout:auto;margin:0;width:auto;text-align:left"
        names = self.strategies
        cols = [self.lines(n) for n in names]
        first = self.first_divergence()
        rows = []
        for i in range(max(len(c) for c in cols)):
            cells = [c[i] if i < len(c) else "" for c in cols]
            diff = any(x != cells[0] for x in cells[1:])
            style = ' style="background:#ffe0e0"' if diff else ""
            marker = "&#9654;" if i == first else ""
            rows.append(f"<tr{style}><td style='{num}'>{marker}</td>" +
                        "".join(f"<td style='{cell}'>{html.escape(x)}</td>" for x in cells) + "</tr>")
        head = (f"<tr><th style='{num}'></th>"
                + "".join(f"<th style='{num}'>{html.escape(n)}</th>" for n in names) + "</tr>")
        stats = "".join(
            f"<tr><td style='{num}'>{html.escape(r['strategy'])}</td><td style='{num}'>{r['status']}</td>"
            f"<td style='{num}'>{r['instructions']:,}</td><td style='{num}'>{r['entries']:,}</td>"
            f"<td style='{num}'>{r['callouts']:,}</td><td style='{num}'>{r['modelled_cycles']:,}</td>"
            f"<td style='{num}'>{r['wall_ms']}</td></tr>" for r in self.table())
        stats_head = "".join(f"<th style='{num}'>{t}</th>" for t in (
            "strategy", "status", "instructions", "monitor entries", "callouts", "modelled cycles",
            "wall ms"))
        scroll = "overflow-x:auto;max-width:100%;text-align:left"
        return (f"<div class='vlab-compare' style='display:block;text-align:left;max-width:100%'>"
                f"<b>{html.escape(self.guest)}</b>"
                f"<div style='{scroll}'><table style='{table}'>{head}{''.join(rows)}</table></div>"
                f"<div style='{scroll}'><table style='{table};margin-top:6px'><tr>{stats_head}</tr>"
                f"{stats}</table></div></div>")


def _wrap(line: str, width: int) -> list[str]:
    """A console line in pieces of at most ``width`` characters, broken between words where it
    can (a word longer than the column is split: nothing is cut off)."""
    if len(line) <= width:
        return [line]
    return textwrap.wrap(line, width, break_on_hyphens=False) or [""]


#: The memory-virtualization comparison (issue: the MMU is where BT and VT-x part ways): each
#: configuration is (label, strategy, strategy options).
MEMORY_CONFIGS = [
    ("native", "native", {}),
    ("binary_translation", "binary_translation", {}),
    ("vtx (no EPT, first generation)", "vtx", {"ept": False, "generation": "first"}),
    ("vtx (EPT)", "vtx", {"ept": True}),
    ("paravirt", "paravirt", {}),
]
