"""One guest under several strategies, side by side: console, exits by reason, cost, time."""

from __future__ import annotations

import html
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

    def __str__(self) -> str:
        names = self.strategies
        cols = [self.lines(n) for n in names]
        width = max([len(n) for n in names] + [len(x) for c in cols for x in c] + [10])
        width = min(width, 48)
        base = cols[0]
        out = ["  " + " | ".join(n.ljust(width) for n in names)]
        for i in range(max(len(c) for c in cols)):
            cells = [c[i] if i < len(c) else "" for c in cols]
            mark = "!" if any(x != (base[i] if i < len(base) else "") for x in cells[1:]) else " "
            out.append(mark + " " + " | ".join(x[:width].ljust(width) for x in cells))
        out.append("")
        for row in self.table():
            out.append(f"{row['strategy']:>20}: {row['status']}, {row['instructions']:,} instructions, "
                       f"{row['entries']:,} monitor entries + {row['callouts']:,} callouts, "
                       f"{row['modelled_cycles']:,} modelled cycles, {row['wall_ms']} ms")
        return "\n".join(out)

    def _repr_html_(self) -> str:
        names = self.strategies
        cols = [self.lines(n) for n in names]
        first = self.first_divergence()
        rows = []
        for i in range(max(len(c) for c in cols)):
            cells = [c[i] if i < len(c) else "" for c in cols]
            diff = any(x != cells[0] for x in cells[1:])
            style = ' style="background:#ffe0e0"' if diff else ""
            marker = "&#9654;" if i == first else ""
            rows.append(f"<tr{style}><td>{marker}</td>" +
                        "".join(f"<td><code>{html.escape(x)}</code></td>" for x in cells) + "</tr>")
        head = "<tr><th></th>" + "".join(f"<th>{html.escape(n)}</th>" for n in names) + "</tr>"
        stats = "".join(
            f"<tr><td>{html.escape(r['strategy'])}</td><td>{r['status']}</td>"
            f"<td>{r['instructions']:,}</td><td>{r['entries']:,}</td><td>{r['callouts']:,}</td>"
            f"<td>{r['modelled_cycles']:,}</td><td>{r['wall_ms']}</td></tr>" for r in self.table())
        return (f"<div class='vlab-compare'><b>{html.escape(self.guest)}</b>"
                f"<table>{head}{''.join(rows)}</table><table><tr><th>strategy</th><th>status</th>"
                f"<th>instructions</th><th>monitor entries</th><th>callouts</th>"
                f"<th>modelled cycles</th><th>wall ms</th></tr>"
                f"{stats}</table></div>")


#: The memory-virtualization comparison (issue: the MMU is where BT and VT-x part ways): each
#: configuration is (label, strategy, strategy options).
MEMORY_CONFIGS = [
    ("native", "native", {}),
    ("binary_translation", "binary_translation", {}),
    ("vtx (no EPT, first generation)", "vtx", {"ept": False, "generation": "first"}),
    ("vtx (EPT)", "vtx", {"ept": True}),
    ("paravirt", "paravirt", {}),
]
