"""The lab's user interface: ipywidgets views of a :class:`~vlab.lab.Lab`.

Every part is a thin view: it reads the Lab (``lab.state()``, ``lab.trace``, ``lab.console`` ...)
and never touches Unicorn; each can be built alone (``RegisterView(lab)``) and refreshed with
``view.refresh()``. :class:`LabWidget` composes them and batches one redraw per action; a
background run redraws at most ``MAX_REDRAWS_PER_S`` times a second. CSS classes (``vlab-step``,
``vlab-eip`` ...) name the parts for browser tests.
"""

from __future__ import annotations

import html
import threading
import time
from typing import TYPE_CHECKING

import ipywidgets as W

from .. import paging
from ..errors import VlabError
from ..isa import InsnClass
from ..state import CpuState
from ..trace import ExitReason
from . import diagram

if TYPE_CHECKING:
    from ..lab import Lab

MAX_REDRAWS_PER_S = 10
STRATEGY_LABELS = {"native": "native", "trap_emulate": "trap-and-emulate",
                   "binary_translation": "binary translation", "vtx": "VT-x", "paravirt": "paravirt"}
_CLASS_COLOURS = {InsnClass.PRIVILEGED: "#d62728", InsnClass.SENSITIVE: "#ff7f0e",
                  InsnClass.IO: "#9467bd", InsnClass.VMX: "#1f77b4"}
_REGS = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eip")


def _h(text: object) -> str:
    return html.escape(str(text))


class View:
    """A part of the UI bound to a Lab: ``widget`` to display, ``refresh()`` to redraw."""

    css = "vlab-view"

    def __init__(self, lab: Lab):
        self.lab = lab
        self.widget = W.HTML()
        self.widget.add_class(self.css)
        self.refresh()

    def refresh(self) -> None:
        self.widget.value = self.render()

    def render(self) -> str:
        raise NotImplementedError

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


class RegisterView(View):
    """Registers (changed ones highlighted), decoded EFLAGS, real vs believed CPL and IF, VMX
    mode, control and table registers (virtual and real where they differ)."""

    css = "vlab-cpu"

    def __init__(self, lab: Lab):
        self._previous: CpuState | None = None
        super().__init__(lab)

    def render(self) -> str:
        lab = self.lab
        st = lab.state()
        prev, self._previous = self._previous, st
        view = lab.guest_view()
        rows = []
        for r in _REGS:
            value = getattr(st, r)
            changed = prev is not None and getattr(prev, r) != value
            style = ' style="background:#fff3a0"' if changed else ""
            cls = ' class="vlab-eip"' if r == "eip" else ""
            rows.append(f"<tr{style}><td>{r.upper()}</td><td{cls}><code>{value:#010x}</code></td></tr>")
        sym = lab.symbol(st.eip)
        virt = lab.vcpu.virt if lab.vcpu is not None else None
        pager = getattr(lab.strategy, "pager", None)
        lines = [
            f"<b>EFLAGS</b> <code>{_h(st.eflags)}</code>",
            f"<b>CPL</b> real {st.cpl} / guest believes {view.get('cpl', st.cpl)}",
            f"<b>VMX</b> {st.vmx_mode}",
            f"<b>IF</b> real {int(st.eflags.IF)} / guest {int(bool(view.get('IF', st.eflags.IF)))}",
            f"<b>CR0</b> {st.cr0:#010x}" + (f" (virtual {virt.CR0:#010x})" if virt and
                                           virt.CR0 != st.cr0 else ""),
            f"<b>CR3</b> {st.cr3:#010x}" + (f" (guest {pager.guest()[1]:#010x}: the core walks "
                                           "the shadow)" if pager is not None and pager.enabled()
                                           else ""),
            f"<b>GDTR</b> {_h(st.gdtr)}" + (f"<br>&nbsp;&nbsp;virtual {_h(virt.GDTR)}"
                                            if virt and virt.GDTR != st.gdtr else ""),
            f"<b>IDTR</b> {_h(st.idtr)}" + (f"<br>&nbsp;&nbsp;virtual {_h(virt.IDTR)}"
                                            if virt and virt.IDTR != st.idtr and virt.IDTR.limit
                                            else ""),
            f"<b>at</b> {_h(sym or '?')} &middot; {st.instructions:,} instructions",
        ]
        return (f"<div><table style='font-family:monospace'>{''.join(rows)}</table>"
                f"<div style='font-size:90%'>{'<br>'.join(lines)}</div></div>")


class CodeView(View):
    """Disassembly around EIP with the current instruction marked and kernel symbols;
    privileged/sensitive instructions coloured by class; under binary translation, the
    translated block beside the original."""

    css = "vlab-code"
    window = 14

    def render(self) -> str:
        lab = self.lab
        eip = lab.state().eip
        start = eip
        block = None
        for b in lab.translations:
            if b.address <= eip < b.end:
                block, start = b, b.address
                break
        insns = lab.disassemble(start, self.window)
        rows = []
        for insn in insns:
            colour = _CLASS_COLOURS.get(insn.klass, "inherit")
            mark = "&#9654;" if insn.address == eip else ""
            name = lab.symbol(insn.address) or ""
            sym = name if (insn.address == start or "+" not in name) else ""
            translated = ""
            if block is not None and insn.address in block.callouts:
                why = _h(block.callouts[insn.address])
                translated = f"<td style='color:#d62728'>callout &rarr; {why}</td>"
            elif block is not None and insn.address < block.end:
                translated = "<td style='color:#888'>as is</td>"
            rows.append(f"<tr><td>{mark}</td><td><code>{insn.address:#010x}</code></td>"
                        f"<td style='color:#888'>{_h(sym or '')}</td>"
                        f"<td style='color:{colour}'><code>{_h(insn.text)}</code></td>{translated}</tr>")
        head = "<tr><th></th><th>address</th><th></th><th>instruction</th>" + (
            "<th>translated</th></tr>" if block is not None else "</tr>")
        return f"<table style='font-size:90%'>{head}{''.join(rows)}</table>"


class ConsoleView(View):
    """The guest's serial console (the latest lines)."""

    css = "vlab-console"
    lines = 40

    def render(self) -> str:
        text = "\n".join(self.lab.console.splitlines()[-self.lines:])
        return (f"<pre style='background:#111;color:#ddd;padding:6px;max-height:22em;"
                f"overflow:auto'>{_h(text) or '&nbsp;'}</pre>")


class TrapLogView:
    """Exits: a filterable, paged table (select a row to see the exit in full), a bar chart of
    exits by reason, and the total of modelled cycles."""

    page_size = 15

    def __init__(self, lab: Lab):
        self.lab = lab
        self.page = 0
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
        prev, nxt = W.Button(description="newer"), W.Button(description="older")
        prev.on_click(lambda _: self._turn(-1))
        nxt.on_click(lambda _: self._turn(1))
        self.filter.observe(lambda _: self._turn(0, reset=True), names="value")
        self.rows.observe(self._show, names="value")
        self.widget = W.VBox([W.HBox([self.filter, prev, nxt]), self.summary, self.rows,
                              self.detail, self.chart])
        self.refresh()

    def _turn(self, step: int, reset: bool = False) -> None:
        self.page = 0 if reset else max(0, self.page + step)
        self.refresh()

    def _exits(self):
        reason = self.filter.value
        exits = list(self.lab.trace.recent)
        if reason != "all":
            exits = [e for e in exits if e.reason.name == reason]
        return exits

    def refresh(self) -> None:
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
            f"<div><span style='display:inline-block;width:11em'>{_h(k)}</span>"
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
        items = "".join(f"<tr><td>{_h(k)}</td><td><code>{_h(v)}</code></td></tr>"
                        for k, v in exit_.row().items())
        self.detail.value = f"<table style='font-size:85%'>{items}</table>"


class DiagramView(View):
    """The rings and modes of the active strategy, the last exit's path in red (graphviz)."""

    css = "vlab-diagram"
    _key: tuple | None = None
    _html = ""

    def render(self) -> str:
        lab = self.lab
        last = lab.trace.recent[-1].reason.name if lab.trace.recent else None
        key = (lab.strategy.name, last)
        if key == self._key:  # graphviz runs only when the picture changes
            return self._html
        self._key = key
        self._html = self._draw(diagram.dot_source(lab.strategy.name, last))
        return self._html

    def _draw(self, dot: str) -> str:
        svg = diagram.render_svg(dot)
        if svg is None:
            return (f"<div><i>{_h(diagram.INSTALL_HINT)}</i><pre>{_h(dot)}</pre></div>")
        return f"<div>{svg}</div>"


class VmcsView(View):
    """VT-x: the VMCS fields (controls and the last exit's information; changed ones marked)."""

    css = "vlab-vmcs"

    def render(self) -> str:
        vmcs = self.lab.vmcs
        if vmcs is None:
            return "<i>no VMCS: the active strategy is not VT-x</i>"
        rows = [r for r in vmcs.table() if r["changed"] or "CONTROL" in r["field"]
                or r["field"].startswith(("EXCEPTION", "CR0_", "CR4_", "VM_EXIT", "EXIT"))]
        body = "".join(
            f"<tr{' style=background:#fff3a0' if r['changed'] else ''}><td>{_h(r['field'])}</td>"
            f"<td>{r['encoding']}</td><td><code>{r['value']:#010x}</code></td></tr>" for r in rows)
        return f"<table style='font-size:85%'><tr><th>field</th><th>enc</th><th>value</th></tr>{body}</table>"


class TranslationView(View):
    """Binary translation: translated blocks, callouts, cache counters."""

    css = "vlab-translations"

    def render(self) -> str:
        blocks = self.lab.translations
        if not blocks and self.lab.strategy.name != "binary_translation":
            return "<i>no translation cache: the active strategy does not translate</i>"
        stats = self.lab.strategy.cache.stats()
        rows = "".join(
            f"<tr><td><code>{b.address:#010x}</code></td><td>{_h(self.lab.symbol(b.address) or '')}</td>"
            f"<td>{len(b.instructions)}</td><td>{_h(', '.join(b.callouts.values()))}</td>"
            f"<td>{'' if b.executions is None else b.executions}</td></tr>" for b in blocks[:60])
        return (f"<div>{_h(stats)}</div><table style='font-size:85%'><tr><th>block</th><th>"
                f"</th><th>insns</th><th>callouts</th><th>runs</th></tr>{rows}</table>")


class MemoryView(View):
    """Paging: for the address the last page fault touched (else EIP), the guest's walk and
    beside it the shadow's walk or the EPT entry, as a table and a graphviz diagram; the
    monitor's MMU counters and its latest page faults (hidden / true / page-table write)."""

    css = "vlab-memory"
    _key: tuple | None = None
    _svg = ""

    def focus(self) -> int:
        """The address to show: the last page fault's, else EIP."""
        lab = self.lab
        faults = lab.page_faults()
        if faults:
            return faults[-1].linear
        for e in reversed(lab.trace.recent):
            if "cr2" in e.detail or "linear" in e.detail:
                value = e.detail.get("cr2", e.detail.get("linear"))
                if value is not None:
                    return value
        return lab.state().eip

    def render(self) -> str:
        lab = self.lab
        address = self.focus()
        try:
            t = lab.translate(address)
        except VlabError as e:
            return f"<i>{_h(e)}</i>"
        summary = lab.memory_summary()
        stats = ", ".join(f"{_h(k)} {_h(hex(v) if k == 'active guest CR3' and v else v)}"
                          for k, v in summary.items()) or "the monitor keeps no page tables here"
        walk = "<br>".join(_h(line) for line in t.lines())
        faults = "".join(f"<li><code>{_h(f.text())}</code></li>" for f in lab.page_faults()[-8:])
        key = (lab.strategy.name, t.lines())
        if key != self._key:  # graphviz only when the walk changes
            self._key = key
            svg = diagram.render_svg(diagram.translation_dot(t))
            self._svg = svg if svg is not None else f"<i>{_h(diagram.INSTALL_HINT)}</i>"
        return (f"<div><b>{_h(t.mechanism)}</b> &middot; {stats}</div>"
                f"<div class='vlab-walk'><code>{walk}</code></div>"
                f"<div>{self._svg}</div>"
                + (f"<div>latest page faults:<ul>{faults}</ul></div>" if faults else "")
                + self._tables())

    def _tables(self) -> str:
        """The guest's mappings beside the shadow's (or the EPT's), side by side."""
        tables = self.lab.page_tables(limit=16)
        if not tables:
            return ""
        titles = {"guest": "guest page tables (GVA → GPA)", "shadow": "shadow (GVA → HPA)",
                  "ept": "EPT (GPA → HPA)"}
        cols = []
        for name, rows in tables.items():
            body = "".join(f"<tr><td><code>{a:#010x}</code></td><td><code>{f:#010x}</code></td>"
                           f"<td>{_h(paging.entry_text(e).split(' P', 1)[-1])}</td></tr>"
                           for a, e, f in rows)
            cols.append(f"<td style='vertical-align:top'><b>{_h(titles[name])}</b><table "
                        f"style='font-size:85%'>{body}</table></td>")
        return f"<table class='vlab-page-tables'><tr>{''.join(cols)}</tr></table>"


class Controls:
    """Step, step over, step back, run/pause (in the background), run to next exit, reset;
    breakpoints (address or label, exit reason, ring change); speed."""

    def __init__(self, ui: LabWidget):
        self.ui = ui
        b = {}
        for name, label in (("step", "Step"), ("over", "Step over"), ("back", "Step back"),
                            ("run", "Run"), ("exit", "Run to next exit"), ("reset", "Reset")):
            b[name] = W.Button(description=label, layout=W.Layout(width="auto"))
            b[name].add_class(f"vlab-{name if name != 'over' else 'step-over'}")
        self.buttons = b
        b["step"].on_click(lambda _: ui.act(ui.lab.step))
        b["over"].on_click(lambda _: ui.act(ui.step_over))
        b["back"].on_click(lambda _: ui.act(ui.lab.step_back))
        b["run"].on_click(lambda _: ui.toggle_run())
        b["exit"].on_click(lambda _: ui.act(ui.run_to_exit))
        b["reset"].on_click(lambda _: ui.act(ui.lab.reset))
        self.bp = W.Text(placeholder="address or label", layout=W.Layout(width="14em"))
        self.bp.add_class("vlab-bp")
        add = W.Button(description="+ breakpoint", layout=W.Layout(width="auto"))
        add.on_click(lambda _: ui.act(lambda: ui.lab.add_breakpoint(_parse(self.bp.value))))
        self.exit_bp = W.Dropdown(options=["(none)"] + [r.name for r in ExitReason],
                                  description="break on exit", style={"description_width": "auto"})
        self.exit_bp.observe(self._exit_bp, names="value")
        self.ring_bp = W.Checkbox(description="break on ring change", indent=False)
        self.ring_bp.observe(lambda c: setattr(ui.lab, "break_on_mode_change", c["new"]),
                             names="value")
        self.speed = W.IntSlider(value=5, min=1, max=7, description="speed",
                                 readout_format="d", style={"description_width": "auto"})
        self.counter = W.HTML()
        self.counter.add_class("vlab-counter")
        self.status = W.HTML()
        self.status.add_class("vlab-status")
        self.widget = W.VBox([
            W.HBox([b["step"], b["over"], b["back"], b["run"], b["exit"], b["reset"],
                    self.counter]),
            W.HBox([self.bp, add, self.exit_bp, self.ring_bp, self.speed]),
            self.status])

    def _exit_bp(self, change) -> None:
        lab = self.ui.lab
        lab.machine.exit_breakpoints.clear()
        if change["new"] != "(none)":
            lab.break_on_exit(change["new"])

    @property
    def chunk(self) -> int:
        """Instructions per background slice: 10 ** speed."""
        return 10 ** self.speed.value


def _parse(text: str):
    text = text.strip()
    try:
        return int(text, 0)
    except ValueError:
        return text


class StrategyToggle:
    """native / trap-and-emulate / binary translation / VT-x / paravirt: switching reboots the
    guest (with the build the strategy needs) and keeps the previous run for comparison. For
    VT-x, "EPT" chooses nested paging or shadow page tables (first-generation hardware)."""

    def __init__(self, ui: LabWidget):
        from .. import strategies

        self.ui = ui
        self.widget = W.ToggleButtons(
            options=[(STRATEGY_LABELS.get(n, n), n) for n in strategies.STRATEGIES],
            value=ui.lab.strategy.name)
        self.widget.add_class("vlab-strategy")
        self.widget.observe(self._switch, names="value")
        self.ept = W.Checkbox(value=bool(getattr(ui.lab.strategy, "ept_enabled", True)),
                              description="EPT (VT-x)", indent=False)
        self.ept.add_class("vlab-ept")
        self.ept.observe(self._ept, names="value")
        self.box = W.HBox([self.widget, self.ept])

    def _options(self, strategy: str) -> dict:
        return {"ept": self.ept.value} if strategy == "vtx" else {}

    def _switch(self, change) -> None:
        if change["new"] != self.ui.lab.strategy.name:
            self.ui.act(lambda: self.ui.lab.switch(change["new"], **self._options(change["new"])))

    def _ept(self, change) -> None:
        lab = self.ui.lab
        if lab.strategy.name == "vtx" and lab.strategy.ept_enabled != change["new"]:
            self.ui.act(lambda: lab.switch("vtx", ept=change["new"]))


class LabWidget:
    """The whole lab in one UI: controls, strategy toggle, CPU and code views, trap log,
    diagram, console, VMCS and translation-cache views."""

    def __init__(self, lab: Lab):
        self.lab = lab
        self._lock = threading.Lock()
        self._running = False
        self._thread: threading.Thread | None = None
        self.controls = Controls(self)
        self.strategy = StrategyToggle(self)
        self.cpu, self.code = RegisterView(lab), CodeView(lab)
        self.console, self.diagram = ConsoleView(lab), DiagramView(lab)
        self.traps, self.vmcs, self.translations = TrapLogView(lab), VmcsView(lab), TranslationView(lab)
        self.memory = MemoryView(lab)
        tabs = W.Tab(children=[self.traps.widget, self.diagram.widget, self.console.widget,
                               self.vmcs.widget, self.translations.widget, self.memory.widget])
        for i, title in enumerate(["Trap log", "Diagram", "Console", "VMCS", "Translations",
                                   "Memory"]):
            tabs.set_title(i, title)
        self.history = W.HTML()
        self.widget = W.VBox([self.controls.widget, self.strategy.box,
                              W.HBox([self.cpu.widget, self.code.widget]), tabs, self.history])
        self.widget.add_class("vlab-lab")
        self.refresh()

    # ---------------------------------------------------------------- actions
    def act(self, fn) -> None:
        """Run one action on the Lab, then redraw everything once."""
        if self._running:
            return
        with self._lock:
            try:
                result = fn()
                if result is not None and hasattr(result, "reason"):
                    self.controls.status.value = f"stopped: {_h(result)}"
                else:
                    self.controls.status.value = ""
            except VlabError as e:
                self.controls.status.value = (f"<span style='color:#d62728'><b>"
                                              f"{type(e).__name__}</b>: {_h(e)}</span> "
                                              "(Reset to start again)")
        self.refresh()

    def step_over(self):
        insns = self.lab.disassemble(self.lab.state().eip, 1)
        if insns and insns[0].mnemonic == "call":
            return self.lab.run(until=insns[0].address + insns[0].size)
        return self.lab.step()

    def run_to_exit(self):
        m = self.lab.machine
        saved = set(m.exit_breakpoints)
        m.exit_breakpoints.update(ExitReason)
        try:
            return self.lab.run()
        finally:
            m.exit_breakpoints.clear()
            m.exit_breakpoints.update(saved)

    def toggle_run(self) -> None:
        """Run in the background (the notebook stays responsive), or pause."""
        if self._running:
            self._running = False
            return
        self._running = True
        self.controls.buttons["run"].description = "Pause"
        self._thread = threading.Thread(target=self._background, daemon=True)
        self._thread.start()

    def _background(self) -> None:
        last = 0.0
        try:
            while self._running:
                with self._lock:
                    try:
                        stop = self.lab.run(max_instructions=self.controls.chunk)
                    except VlabError as e:
                        self.controls.status.value = (f"<span style='color:#d62728'><b>"
                                                      f"{type(e).__name__}</b>: {_h(e)}</span>")
                        break
                if stop.reason != "limit":
                    self.controls.status.value = f"stopped: {_h(stop)}"
                    break
                now = time.monotonic()
                if now - last >= 1 / MAX_REDRAWS_PER_S:
                    self.controls.counter.value = f"{self.lab.machine.instructions:,} instructions"
                    last = now
        finally:
            self._running = False
            self.controls.buttons["run"].description = "Run"
            self.refresh()

    def wait(self, timeout: float = 30) -> None:
        """Wait for a background run to end (for scripts and tests)."""
        if self._thread is not None:
            self._thread.join(timeout)

    # ---------------------------------------------------------------- drawing
    def refresh(self) -> None:
        """Redraw every view once (one batch per action)."""
        lab = self.lab
        for view in (self.cpu, self.code, self.console, self.traps, self.diagram, self.vmcs,
                     self.translations, self.memory):
            view.refresh()
        self.controls.counter.value = f"{lab.machine.instructions:,} instructions &middot; {_h(lab.status)}"
        if self.strategy.widget.value != lab.strategy.name:
            self.strategy.widget.value = lab.strategy.name
        if lab.history:
            rows = "".join(f"<li>{_h(h['strategy'])} ({_h(h['guest'])}): {_h(h['status'])}, "
                           f"{h['instructions']:,} instructions, exits {_h(h['exits'])}</li>"
                           for h in lab.history[-5:])
            self.history.value = f"<details><summary>previous runs</summary><ul>{rows}</ul></details>"

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


def static_html(lab: Lab) -> str:
    """A static snapshot of the lab, for front ends where widgets are not live."""
    st = lab.state()
    regs = " ".join(f"{r.upper()}={getattr(st, r):#010x}" for r in _REGS)
    counts = ", ".join(f"{k} {v}" for k, v in lab.trace.counts().items()) or "none"
    return (f"<div class='vlab-static'><b>vlab</b>: {_h(lab.guest)} under {_h(lab.strategy.name)}"
            f" &middot; {_h(lab.status)} &middot; {st.instructions:,} instructions<br>"
            f"<code>{_h(regs)}</code><br>CPL {st.cpl}, VMX {st.vmx_mode}; exits: {_h(counts)}"
            f"<pre>{_h(lab.console[-2000:])}</pre></div>")
