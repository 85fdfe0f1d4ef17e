"""The trap log: the monitor's exits, newest first, a page at a time.

Most exits of a kernel that prints are its serial driver polling the UART: read the line-status
register (port 0x3FD) until the transmitter is empty, write the byte (port 0x3F8), again for
every character. Under trap-and-emulate that is most of the log, and it buries the exits a
lesson is about, so each run of consecutive serial-port exits is folded into one row
("×505 serial status reads ...") unless the "fold" box is cleared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import ipywidgets as W

from ..i18n import N_, tr
from ..monitor.qualification import decode_io
from ..monitor.shadow import FaultRecord
from ..monitor.trace import ExitReason
from .base import LabView
from .display import CELL, TABLE, WRAP, block, h, record
from .words import (
    cr_access_text,
    fault_text,
    handler_name,
    inline_note,
    io_access_text,
    reason_help,
    reason_html,
)

if TYPE_CHECKING:
    from ..lab import Lab
    from ..monitor.trace import Exit

#: The 16550 UART at COM1, the guest's console: data register at +0, line-status register at +5.
SERIAL_BASE, SERIAL_PORTS = 0x3F8, range(0x3F8, 0x400)
SERIAL_STATUS, SERIAL_DATA = SERIAL_BASE + 5, SERIAL_BASE


def serial_port(e: Exit) -> int | None:
    """The serial port an I/O exit touched (None for any other exit)."""
    if e.reason is not ExitReason.IO_INSTRUCTION:
        return None
    port = decode_io(e.qualification).port
    return port if port in SERIAL_PORTS else None


def is_status_read(e: Exit) -> bool:
    """An IN from the UART's line-status register: one poll of the serial driver."""
    return serial_port(e) == SERIAL_STATUS and decode_io(e.qualification).is_in


@dataclass(frozen=True)
class Fold:
    """A run of consecutive serial-port exits shown as one row."""

    exits: tuple

    @property
    def status_reads(self) -> int:
        return sum(1 for e in self.exits if is_status_read(e))

    @property
    def data_writes(self) -> int:
        return sum(1 for e in self.exits if serial_port(e) == SERIAL_DATA
                   and not decode_io(e.qualification).is_in)

    @property
    def text(self) -> str:
        """What the guest wrote to the data port in this run."""
        return "".join(chr(e.detail.get("value", 0) & 0xFF) for e in self.exits
                       if serial_port(e) == SERIAL_DATA and not decode_io(e.qualification).is_in)

    @property
    def key(self) -> tuple[str, int, int]:
        return ("fold", self.exits[0].index, self.exits[-1].index)

    def label(self) -> str:
        others = len(self.exits) - self.status_reads - self.data_writes
        text = self.text.replace("\n", "⏎")
        text = text if len(text) <= 28 else text[:27] + "…"
        what = tr("×{reads} serial status reads (IN {status}) + {writes} data writes "
                  "(OUT {data})").format(reads=f"{self.status_reads:,}",
                                         status=f"{SERIAL_STATUS:#x}",
                                         writes=f"{self.data_writes:,}", data=f"{SERIAL_DATA:#x}")
        if others:
            what = tr("{exits} + {others} other").format(exits=what, others=f"{others:,}")
        return (what + f", #{self.exits[0].index}–#{self.exits[-1].index}"
                + (f": {text!r}" if text else ""))


def fold_polling(exits: list) -> list:
    """The exits in order, each run of two or more consecutive serial-port exits as a Fold."""
    out: list = []
    run: list = []

    def close() -> None:
        if len(run) >= 2:
            out.append(Fold(tuple(run)))
        else:
            out.extend(run)
        run.clear()

    for e in exits:
        if serial_port(e) is not None:
            run.append(e)
        else:
            close()
            out.append(e)
    close()
    return out


def reason_text(reason: ExitReason) -> str:
    """``HLT(12)``: Intel's basic exit reason number in decimal as appendix C lists it; vlab's
    own reasons (no VT-x counterpart, from 0x100 up) in hex."""
    n = int(reason)
    return f"{reason.name}({n})" if n < 0x100 else f"{reason.name}({n:#x})"


class TrapLogView(LabView, W.VBox):
    """Exits: a filterable, paged table (select a row to see the exit in full), a bar chart of
    exits by reason, and the total of modelled cycles. It redraws only when the Lab recorded an
    exit since its last redraw (or switched, or stepped back)."""

    css = "vlab-trap-log"
    page_size = 15

    def __init__(self, lab: Lab, **kwargs):
        self.page = 0
        self._stale = True
        self._shown_rows: dict = {}  # row value -> Exit or Fold, as drawn last
        self.filter = W.Dropdown(options=[tr("all")], value=tr("all"),
                                 layout=W.Layout(width="auto", flex="0 1 auto"),
                                 style={"description_width": "auto"})
        self.filter.add_class("vlab-trap-filter")
        self.fold = W.Checkbox(value=True, indent=False,
                               layout=W.Layout(width="auto", flex="0 0 auto"))
        self.fold.add_class("vlab-fold")
        self.rows = W.Select(options=[], rows=self.page_size,
                             layout=W.Layout(min_width="100%", flex="0 0 auto"))
        self.rows.add_class("vlab-traplog")
        self.detail = W.HTML()
        self.detail.add_class("vlab-exit-detail")
        self.chart = W.HTML()
        self.chart.add_class("vlab-exit-chart")
        self.summary = W.HTML()
        self.summary.add_class("vlab-trap-summary")
        newer, older = (W.Button(layout=W.Layout(width="auto", flex="0 0 auto")) for _ in range(2))
        self.newer, self.older = newer, older
        newer.on_click(lambda _: self._turn(-1))
        older.on_click(lambda _: self._turn(1))
        self.filter.observe(lambda _: self._turn(0, reset=True), names="value")
        self.fold.observe(lambda _: self._turn(0, reset=True), names="value")
        self.rows.observe(self._show, names="value")
        scroller = W.Box([self.rows], layout=W.Layout(overflow="auto", width="100%"))
        super().__init__(lab, children=[
            W.HBox([self.filter, newer, older, self.fold], layout=W.Layout(flex_flow="row wrap")),
            self.summary, scroller, self.detail, self.chart], **kwargs)
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
        reason = self.filter.value  # an exit reason's name, or "all" (in the lab's language)
        exits = list(self.lab.trace.recent)  # bounded: the TrapLog keeps the latest exits only
        if reason in ExitReason.__members__:
            exits = [e for e in exits if e.reason.name == reason]
        return exits

    def table_rows(self) -> list:
        """What the table lists, oldest first: exits, and folded runs of serial polling."""
        exits = self._exits()
        return fold_polling(exits) if self.fold.value else exits

    def _label(self) -> None:
        """The controls' labels and tooltips, in the current language."""
        self.filter.description = tr("reason")
        self.filter.tooltip = tr("show the exits of one reason only")
        self.fold.description = tr("fold serial-port polling")
        self.fold.tooltip = tr("show each run of serial-port exits (the console driver polling "
                               "the UART) as one row")
        self.newer.description, self.older.description = tr("newer"), tr("older")
        self.newer.tooltip = tr("the page of newer exits")
        self.older.tooltip = tr("the page of older exits")

    def draw(self) -> None:
        self._stale = False
        self._label()
        trace = self.lab.trace
        names = [tr("all")] + sorted(r.name for r in trace.by_reason)
        if list(self.filter.options) != names:
            value = self.filter.value
            self.filter.options = names
            self.filter.value = value if value in names else names[0]
        rows = self.table_rows()
        end = len(rows) - self.page * self.page_size
        shown = rows[max(0, end - self.page_size):max(0, end)]
        self._shown_rows = {_key(r): r for r in shown}
        self.rows.options = options = [(_label(r), _key(r)) for r in reversed(shown)]
        # a list box never scrolls sideways: make it as wide as its longest row (an upper
        # bound of the UI font's character width) and let the box around it scroll instead
        longest = max((len(label) for label, _ in options), default=0)
        self.rows.layout.width = f"{0.62 * longest + 2:.0f}em"
        folds = [r for r in rows if isinstance(r, Fold)]
        parts = [tr("{exits} exits").format(exits=f"<b>{trace.total:,}</b>"),
                 tr("{cycles} modelled cycles").format(cycles=f"<b>{trace.cycles:,}</b>")]
        if trace.dropped:
            parts.append(tr("{rows} older rows dropped").format(rows=f"{trace.dropped:,}"))
        if folds:
            parts.append(tr("serial-port polling folded: {reads} status reads and {writes} data "
                            "writes in {rows} rows").format(
                reads=f"{sum(f.status_reads for f in folds):,}",
                writes=f"{sum(f.data_writes for f in folds):,}", rows=f"{len(folds):,}"))
        self.summary.value = " &middot; ".join(parts)
        counts = trace.counts()
        top = max(counts.values(), default=1)
        bars = "".join(
            f"<tr><td style='{CELL}'>{reason_html(k)}</td><td style='{CELL}'><span style='display:"
            f"inline-block;background:#4e79a7;height:0.8em;width:{max(2, int(200 * v / top))}px'>"
            f"</span> {v:,}</td></tr>"
            for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
        self.chart.value = block(f"<table class='vlab-bars' style='{TABLE}'>{bars}</table>")
        self._show({"new": self.rows.value})  # the selected exit's detail, in today's words

    def _show(self, change) -> None:
        row = self._shown_rows.get(change["new"])
        if row is None:
            self.detail.value = ""
        else:
            self.detail.value = block(_fold_detail(row) if isinstance(row, Fold) else exit_detail(row))


def _key(row) -> object:
    return row.key if isinstance(row, Fold) else row.index


#: Who exits to whom (an exit's "level" under nested VMX), as the trap log shows it.
LEVELS = (N_("guest → hypervisor"), N_("L2 → L1 (reflected by L0)"))


def _label(row) -> str:
    if isinstance(row, Fold):
        return row.label()
    e = row
    decoded = e.detail.get("decoded") or e.detail.get("hypercall") or ""
    decoded = decoded if isinstance(decoded, str) else ""  # (an EPT violation's is a record)
    if decoded and "decoded" in e.detail:  # (the model's words for it are English)
        decoded = _decoded_qualification(e.reason.name, e.qualification) or decoded
    level = e.detail.get("level")
    return " ".join(part for part in (
        f"#{e.index}" + (f" [{tr(level)}]" if level else ""),
        f"@{e.eip:#010x} {reason_text(e.reason)}", e.instruction,
        f"· {decoded}" if decoded else "", f"q={e.qualification:#x}" if e.qualification else "",
        f"→ {handler_name(e.handler)}") if part)


def exit_detail(e: Exit) -> str:
    """One exit in full: every field, in hex where the SDM writes hex, the qualification
    decoded by field, the detail as a nested table; the reason's meaning on hover."""
    row = e.row()
    decoded = _decoded_qualification(row["reason"], row["qualification"])
    detail = dict(row["detail"])
    if isinstance(detail.get("decoded"), str) and decoded:
        detail["decoded"] = decoded  # (the model's own words for it, in English)
    if isinstance(detail.get("level"), str):
        detail["level"] = tr(detail["level"])
    if isinstance(detail.get("inline"), str):  # what the translated code does instead
        detail["inline"] = inline_note(detail["inline"])
    if isinstance(detail.get("fault"), FaultRecord):  # a page fault the monitor saw
        detail["fault"] = fault_text(detail["fault"])
    row = {**row, "detail": detail, "handler": handler_name(row["handler"])}
    if decoded:
        row["qualification (decoded)"] = decoded
    out = record(_translated_words(row), css="vlab-exit-record", label=tr)
    tip = reason_help(row["reason"])  # (the record writes the name as <code>NAME</code>)
    return out.replace(f"<code>{h(row['reason'])}</code>",
                       f"<code title='{h(tip)}'>{h(row['reason'])}</code>", 1) if tip else out


#: Detail fields whose value is a word of a fixed set (how an exit reached the monitor, who
#: decoded it, what an access was): shown translated.
WORD_VALUES = {"via": (N_("callout"), N_("inline")), "decoded_by": (N_("monitor"),),
               "access": (N_("read"), N_("write"), N_("fetch")),
               "page_fault": (N_("hidden"), N_("true"), N_("pt_write"))}


def _translated_words(mapping: dict) -> dict:
    """A record with the words of :data:`WORD_VALUES` translated (nested records too)."""
    return {k: _translated_words(v) if isinstance(v, dict) else
            tr(v) if k in WORD_VALUES and v in WORD_VALUES[k] else v for k, v in mapping.items()}


def _fold_detail(fold: Fold) -> str:
    exits = fold.exits
    eips = sorted({e.eip for e in exits})
    info = {
        N_("exits"): tr("#{first} to #{last} ({count} exits)").format(
            first=exits[0].index, last=exits[-1].index, count=f"{len(exits):,}"),
        N_("serial status reads"): tr("{count} (IN from {port}, the line-status register: is "
                                      "the transmitter empty?)").format(
            count=f"{fold.status_reads:,}", port=f"{SERIAL_STATUS:#x}"),
        N_("data writes"): tr("{count} (OUT to {port}, one character each)").format(
            count=f"{fold.data_writes:,}", port=f"{SERIAL_DATA:#x}"),
        N_("at"): ", ".join(f"{a:#010x}" for a in eips),
        N_("handlers"): ", ".join(sorted({handler_name(e.handler) for e in exits})),
        N_("modelled cycles"): f"{sum(e.cost for e in exits):,}",
    }
    text = fold.text
    return (record(info, css="vlab-fold-record", label=tr)
            + (f"<div style='{WRAP}'>{h(tr('written:'))}</div><pre style='margin:0;"
               f"white-space:pre-wrap;overflow-wrap:anywhere'>{h(text)}</pre>" if text else ""))


def _decoded_qualification(reason: str, qualification: int) -> str:
    """The exit qualification's fields by name (SDM vol. 3C, tables 28-3 and 28-5)."""
    if reason == "CR_ACCESS":
        return cr_access_text(qualification)
    if reason == "IO_INSTRUCTION":
        return io_access_text(qualification)
    return ""
