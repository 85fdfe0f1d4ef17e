"""The trap log: the monitor's exits, newest first, a page at a time."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ipywidgets as W

from .base import LabView, h

if TYPE_CHECKING:
    from ..lab import Lab


class TrapLogView(LabView, W.VBox):
    """Exits: a filterable, paged table (select a row to see the exit in full), a bar chart of
    exits by reason, and the total of modelled cycles. It redraws only when the Lab recorded an
    exit since its last redraw (or switched, or stepped back)."""

    css = "vlab-trap-log"
    page_size = 15

    def __init__(self, lab: Lab, **kwargs):
        self.page = 0
        self._stale = True
        self.filter = W.Dropdown(options=["all"], value="all", description="reason")
        self.filter.add_class("vlab-trap-filter")
        self.rows = W.Select(options=[], rows=self.page_size, layout=W.Layout(width="100%"))
        self.rows.add_class("vlab-traplog")
        self.detail = W.HTML()
        self.detail.add_class("vlab-exit-detail")
        self.chart = W.HTML()
        self.chart.add_class("vlab-exit-chart")
        self.summary = W.HTML()
        self.summary.add_class("vlab-trap-summary")
        newer, older = W.Button(description="newer"), W.Button(description="older")
        newer.on_click(lambda _: self._turn(-1))
        older.on_click(lambda _: self._turn(1))
        self.filter.observe(lambda _: self._turn(0, reset=True), names="value")
        self.rows.observe(self._show, names="value")
        super().__init__(lab, children=[W.HBox([self.filter, newer, older]), self.summary,
                                        self.rows, self.detail, self.chart], **kwargs)
        self._observe(lab.events.exit_recorded, self._exit_recorded)

    def _exit_recorded(self, _exit) -> None:
        self._stale = True  # inside the run: only note it, the redraw comes with the stop

    def _lab_changed(self, stop=None) -> None:
        if self._stale or stop is None:  # exits recorded, or a step back / an error
            self._stale = True
            super()._lab_changed(stop)

    def _lab_switched(self, strategy: str) -> None:
        self._stale = True  # a new, empty trace
        super()._lab_switched(strategy)

    def _turn(self, step: int, reset: bool = False) -> None:
        if self._drawing:
            return
        self.page = 0 if reset else max(0, self.page + step)
        self.refresh()

    def _exits(self) -> list:
        reason = self.filter.value
        exits = list(self.lab.trace.recent)  # bounded: the TrapLog keeps the latest exits only
        if reason != "all":
            exits = [e for e in exits if e.reason.name == reason]
        return exits

    def draw(self) -> None:
        self._stale = False
        trace = self.lab.trace
        names = ["all"] + sorted(r.name for r in trace.by_reason)
        if list(self.filter.options) != names:
            self.filter.options = names
        exits = self._exits()
        end = len(exits) - self.page * self.page_size
        shown = exits[max(0, end - self.page_size):max(0, end)]
        self.rows.options = [(self._row(e), e.index) for e in reversed(shown)]
        self.summary.value = (f"<b>{trace.total:,}</b> exits &middot; "
                              f"<b>{trace.cycles:,}</b> modelled cycles"
                              + (f" &middot; {trace.dropped:,} older rows dropped" if trace.dropped else ""))
        counts = trace.counts()
        top = max(counts.values(), default=1)
        bars = "".join(
            f"<div><span style='display:inline-block;width:11em'>{h(k)}</span>"
            f"<span style='display:inline-block;background:#4e79a7;height:0.8em;"
            f"width:{max(2, int(200 * v / top))}px'></span> {v:,}</div>"
            for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
        self.chart.value = f"<div class='vlab-bars'>{bars}</div>"

    def _row(self, e) -> str:
        qual = f" q={e.qualification:#x}" if e.qualification else ""
        decoded = e.detail.get("decoded") or e.detail.get("hypercall") or ""
        return (f"#{e.index} {e.reason.name}({int(e.reason)}) @{e.eip:#010x} "
                f"{e.instruction} {decoded}{qual} -> {e.handler} [{e.cost}]")

    def _show(self, change) -> None:
        index = change["new"]
        exit_ = next((e for e in self.lab.trace.recent if e.index == index), None)
        if exit_ is None:
            self.detail.value = ""
            return
        row = exit_.row()
        decoded = _decoded_qualification(row["reason"], row["qualification"])
        if decoded:
            row = {**row, "qualification (decoded)": decoded}
        items = "".join(f"<tr><td>{h(k)}</td><td><code>{h(_shown(k, v))}</code></td></tr>"
                        for k, v in row.items())
        self.detail.value = f"<table style='font-size:85%'>{items}</table>"


#: Numbers a student reads in decimal (counts, indexes, rings, cycles, sizes); the rest
#: (addresses, selectors, qualifications, register values) in hex, as the SDM writes them.
_DECIMAL = frozenset({"index", "cost", "cpl", "reason_number", "vector", "size", "count",
                      "number"})


def _shown(key: str, value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_shown(k, v)}" for k, v in value.items())
    if isinstance(value, bool) or not isinstance(value, int) or key in _DECIMAL:
        return str(value)
    return f"{value:#x}"


def _decoded_qualification(reason: str, qualification: int) -> str:
    """The exit qualification's fields by name (SDM vol. 3C, tables 28-3 and 28-5)."""
    from ..monitor.qualification import decode_cr, decode_io

    if reason == "CR_ACCESS":
        return str(decode_cr(qualification))
    if reason == "IO_INSTRUCTION":
        return str(decode_io(qualification))
    return ""
