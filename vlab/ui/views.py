"""The lab's simple views, each one block of HTML: registers, code, console, the architecture
diagram, the VMCS and the translation cache. Each builds alone from a Lab (``RegisterView(lab)``),
follows it through its events and shows a panel only where ``lab.capabilities`` says it applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..isa import InsnClass
from ..state import CpuState
from . import diagram
from .base import HtmlView, h

if TYPE_CHECKING:
    from ..lab import Lab

CLASS_COLOURS = {InsnClass.PRIVILEGED: "#d62728", InsnClass.SENSITIVE: "#ff7f0e",
                 InsnClass.IO: "#9467bd", InsnClass.VMX: "#1f77b4"}
REGISTERS = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eip")
#: guest_view() keys RegisterView shows in their own line; any other key goes to "guest view".
_SHOWN = {"cpl", "IF", "CR0", "CR3", "GDTR", "IDTR", "vmx"}


class RegisterView(HtmlView):
    """Registers (changed ones highlighted), decoded EFLAGS, real vs believed CPL and IF, VMX
    mode, control and table registers (what the guest believes beside the real ones)."""

    css = "vlab-cpu"

    def __init__(self, lab: Lab, **kwargs):
        self._shown: CpuState | None = None  # the state drawn last
        self._before: CpuState | None = None  # the state before it: changes are marked
        super().__init__(lab, **kwargs)

    def _lab_switched(self, strategy: str) -> None:
        self._shown = self._before = None  # a reboot is not a change to mark
        super()._lab_switched(strategy)

    def render(self) -> str:
        lab = self.lab
        st = lab.state()
        if st != self._shown:  # redrawing an unchanged state keeps its marks
            self._before, self._shown = self._shown, st
        prev = self._before
        believed = lab.guest_view()
        rows = []
        for r in REGISTERS:
            value = getattr(st, r)
            changed = prev is not None and getattr(prev, r) != value
            style = ' style="background:#fff3a0"' if changed else ""
            cls = ' class="vlab-eip"' if r == "eip" else ""
            rows.append(f"<tr{style}><td>{r.upper()}</td><td{cls}><code>{value:#010x}</code></td></tr>")
        cr0, gdtr, idtr = believed.get("CR0"), believed.get("GDTR"), believed.get("IDTR")
        lines = [
            f"<b>EFLAGS</b> <code>{h(st.eflags)}</code>",
            f"<b>CPL</b> real {st.cpl} / guest believes {believed.get('cpl', st.cpl)}",
            f"<b>VMX</b> {st.vmx_mode}",
            f"<b>IF</b> real {int(st.eflags.IF)} / guest {int(bool(believed.get('IF', st.eflags.IF)))}",
            f"<b>CR0</b> {st.cr0:#010x}" + (f" (virtual {cr0:#010x})" if cr0 is not None
                                           and cr0 != st.cr0 else ""),
            f"<b>CR3</b> {st.cr3:#010x}" + self._shadow_note(believed),
            f"<b>GDTR</b> {h(st.gdtr)}" + (f"<br>&nbsp;&nbsp;virtual {h(gdtr)}"
                                           if gdtr is not None and gdtr != st.gdtr else ""),
            f"<b>IDTR</b> {h(st.idtr)}" + (f"<br>&nbsp;&nbsp;virtual {h(idtr)}"
                                           if idtr is not None and idtr != st.idtr and idtr.limit
                                           else ""),
        ]
        rest = {k: v for k, v in believed.items() if k not in _SHOWN}
        if rest:
            lines.append("<b>guest view</b> " + " &middot; ".join(
                f"{h(k)} {h(hex(v) if isinstance(v, int) and not isinstance(v, bool) else v)}"
                for k, v in rest.items()))
        lines.append(f"<b>at</b> {h(lab.symbol(st.eip) or '?')} &middot; "
                     f"{st.instructions:,} instructions")
        return (f"<div><table style='font-family:monospace'>{''.join(rows)}</table>"
                f"<div style='font-size:90%'>{'<br>'.join(lines)}</div></div>")

    def _shadow_note(self, believed: dict) -> str:
        """Under shadow paging the core's CR3 is the monitor's: say which one the guest loaded."""
        if "shadow_paging" not in self.lab.capabilities:
            return ""
        active = self.lab.memory_summary().get("active guest CR3")
        if active is None:
            return ""
        return f" (guest {believed.get('CR3', active):#010x}: the core walks the shadow)"


class CodeView(HtmlView):
    """Disassembly around EIP with the current instruction marked and kernel symbols;
    privileged/sensitive instructions coloured by class; under binary translation, the
    translated block beside the original."""

    css = "vlab-code"
    window = 14

    def render(self) -> str:
        lab = self.lab
        eip = lab.state().eip
        start, block = eip, None
        if "translation_cache" in lab.capabilities:
            block = next((b for b in lab.translations if b.address <= eip < b.end), None)
            if block is not None:
                start = block.address
        rows = []
        for insn in lab.disassemble(start, self.window):
            colour = CLASS_COLOURS.get(insn.klass, "inherit")
            mark = "&#9654;" if insn.address == eip else ""
            name = lab.symbol(insn.address) or ""
            sym = name if (insn.address == start or "+" not in name) else ""
            translated = ""
            if block is not None and insn.address in block.callouts:
                why = h(block.callouts[insn.address])
                translated = f"<td style='color:#d62728'>callout &rarr; {why}</td>"
            elif block is not None and insn.address < block.end:
                translated = "<td style='color:#888'>as is</td>"
            rows.append(f"<tr><td>{mark}</td><td><code>{insn.address:#010x}</code></td>"
                        f"<td style='color:#888'>{h(sym)}</td>"
                        f"<td style='color:{colour}'><code>{h(insn.text)}</code></td>{translated}</tr>")
        head = "<tr><th></th><th>address</th><th></th><th>instruction</th>" + (
            "<th>translated</th></tr>" if block is not None else "</tr>")
        return f"<table style='font-size:90%'>{head}{''.join(rows)}</table>"


class ConsoleView(HtmlView):
    """The guest's serial console (the latest lines)."""

    css = "vlab-console"
    lines = 40

    def render(self) -> str:
        tail = self.lab.console[-self.lines * 200:]  # bounded, however long the console grows
        text = "\n".join(tail.splitlines()[-self.lines:])
        return (f"<pre style='background:#111;color:#ddd;padding:6px;max-height:22em;"
                f"overflow:auto'>{h(text) or '&nbsp;'}</pre>")


class DiagramView(HtmlView):
    """The rings and modes of the active strategy, the last exit's path in red (graphviz)."""

    css = "vlab-diagram"
    min_interval = 0.5  # a new picture runs graphviz

    def render(self) -> str:
        lab = self.lab
        recent = lab.trace.recent
        last = recent[-1].reason.name if recent else None
        dot = diagram.dot_source(diagram.architecture(lab.capabilities), last)
        svg = diagram.render_svg(dot)
        if svg is None:
            return f"<div><i>{h(diagram.INSTALL_HINT)}</i><pre>{h(dot)}</pre></div>"
        return f"<div>{svg}</div>"


class VmcsView(HtmlView):
    """VT-x: the VMCS fields (controls and the last exit's information; changed ones marked)."""

    css = "vlab-vmcs"

    def render(self) -> str:
        if "vmcs" not in self.lab.capabilities:
            return "<i>no VMCS: the active strategy is not VT-x</i>"
        rows = [r for r in self.lab.vmcs.table() if r["changed"] or "CONTROL" in r["field"]
                or r["field"].startswith(("EXCEPTION", "CR0_", "CR4_", "VM_EXIT", "EXIT"))]
        body = "".join(
            f"<tr{' style=background:#fff3a0' if r['changed'] else ''}><td>{h(r['field'])}</td>"
            f"<td>{r['encoding']}</td><td><code>{r['value']:#010x}</code></td></tr>" for r in rows)
        return f"<table style='font-size:85%'><tr><th>field</th><th>enc</th><th>value</th></tr>{body}</table>"


class TranslationView(HtmlView):
    """Binary translation: translated blocks (the first ``limit``), callouts, cache counters."""

    css = "vlab-translations"
    limit = 60

    def render(self) -> str:
        lab = self.lab
        if "translation_cache" not in lab.capabilities:
            return "<i>no translation cache: the active strategy does not translate</i>"
        blocks = lab.translations
        rows = "".join(
            f"<tr><td><code>{b.address:#010x}</code></td><td>{h(lab.symbol(b.address) or '')}</td>"
            f"<td>{len(b.instructions)}</td><td>{h(', '.join(b.callouts.values()))}</td>"
            f"<td>{'' if b.executions is None else b.executions}</td></tr>"
            for b in blocks[:self.limit])
        hidden = len(blocks) - self.limit
        more = f"<div>... and {hidden} more blocks</div>" if hidden > 0 else ""
        return (f"<div>{h(lab.translation_stats())}</div><table style='font-size:85%'><tr><th>block"
                f"</th><th></th><th>insns</th><th>callouts</th><th>runs</th></tr>{rows}</table>{more}")
