"""The lab's simple views, each one block of HTML: registers, code, console, the architecture
diagram, the VMCS and the translation cache. Each builds alone from a Lab (``RegisterView(lab)``),
follows it through its events and shows a panel only where ``lab.capabilities`` says it applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import VlabError
from ..i18n import N_, tr
from ..isa import InsnClass
from ..state import CpuState, TableRegister
from . import diagram, sdm
from .base import HtmlView
from .display import CELL, TABLE, WRAP, fit_svg, h, text, value_text
from .words import reason_html, translated_form

if TYPE_CHECKING:
    from ..lab import Lab

CLASS_COLOURS = {InsnClass.PRIVILEGED: "#d62728", InsnClass.SENSITIVE: "#ff7f0e",
                 InsnClass.IO: "#9467bd", InsnClass.VMX: "#1f77b4"}
#: What each colour of the code view means (the legend under it).
CLASS_LEGEND = {
    InsnClass.PRIVILEGED: (N_("privileged"), N_("faults (#GP) outside ring 0")),
    InsnClass.SENSITIVE: (N_("sensitive, unprivileged"), N_("acts differently outside ring 0 "
                                                            "without faulting: a hole for "
                                                            "trap-and-emulate")),
    InsnClass.IO: ("I/O", N_("faults when CPL > IOPL, unless the TSS I/O bitmap allows the "
                             "port")),
    InsnClass.VMX: ("VMX / CPUID", N_("VM exits under VT-x")),
}
#: The VMX modes the register view names (CpuState.vmx_mode).
VMX_MODES = {"off": N_("off"), "root": N_("root"), "non-root": N_("non-root"),
             "non-root (L2)": N_("non-root (L2)")}
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
            rows.append(f"<tr{style}><td style='{CELL}'>{r.upper()}</td>"
                        f"<td{cls} style='{CELL}'><code>{value:#010x}</code></td></tr>")
        cr0 = believed.get("CR0")
        lines = [
            f"<b>EFLAGS</b> <code>{h(st.eflags)}</code>",
            "<b>CPL</b> " + h(tr("real {real} / guest believes {believed}").format(
                real=st.cpl, believed=believed.get("cpl", st.cpl))),
            f"<b>VMX</b> {h(tr(VMX_MODES.get(st.vmx_mode, st.vmx_mode)))}",
            "<b>IF</b> " + h(tr("real {real} / guest {guest}").format(
                real=int(st.eflags.IF), guest=int(bool(believed.get("IF", st.eflags.IF))))),
            f"<b>CR0</b> {st.cr0:#010x}" + (" " + h(tr("(virtual {value})").format(
                value=f"{cr0:#010x}")) if cr0 is not None and cr0 != st.cr0 else ""),
            f"<b>CR3</b> {st.cr3:#010x}" + self._shadow_note(believed),
            self._table_register("GDTR", st.gdtr, believed.get("GDTR")),
            self._table_register("IDTR", st.idtr, believed.get("IDTR")),
            self._selectors(st, prev),
            self._stack(st),
        ]
        rest = {k: v for k, v in believed.items() if k not in _SHOWN}
        if rest:
            lines.append(f"<b>{h(tr('guest view'))}</b> " + " &middot; ".join(
                f"{h(tr(k))} {h(value_text(k, v))}" for k, v in rest.items()))
        lines.append(self._interrupts())
        lines.append(f"<b>{h(tr('at'))}</b> {h(lab.symbol(st.eip) or '?')} &middot; "
                     + h(tr("{count} instructions").format(count=f"{st.instructions:,}")))
        return (f"<div style='display:flex;flex-wrap:wrap;gap:0 16px;align-items:flex-start'>"
                f"<table style='{TABLE};font-family:monospace'>{''.join(rows)}</table>"
                f"<div style='font-size:90%;min-width:16em;flex:1 1 16em;{WRAP}'>"
                f"{'<br>'.join(lines)}</div></div>")

    def _interrupts(self) -> str:
        """The interrupt path now: the PIC's requested and in-service lines, a request held
        back by the guest's IF, a VT-x interrupt window asked for or an injection on the next
        VM entry, a paravirtual upcall pending."""
        i = self.lab.interrupt_state()
        lines = ", ".join(f"IRQ {n}" for n in i["requested"]) or tr("none")
        serving = ", ".join(f"IRQ {n}" for n in i["in service"]) or tr("none")
        parts = [h(tr("requested {lines}").format(lines=lines)),
                 h(tr("in service {lines}").format(lines=serving)),
                 tr("masks {master}/{slave}").format(master=f"<code>{i['masks'][0]:#04x}</code>",
                                                     slave=f"<code>{i['masks'][1]:#04x}</code>")]
        if i["waiting for IF"]:
            parts.append("<b>" + text(tr("waiting for the guest's IF")) + "</b>")
        if i.get("window requested"):
            parts.append(f"<b>{h(tr('interrupt window requested'))}</b> "
                         + h(tr("(exit 7 when IF = 1)")))
        if i.get("injecting") is not None:
            parts.append(tr("next VM entry injects vector {vector}").format(
                vector=f"<code>{i['injecting']:#04x}</code>"))
        if i.get("upcall pending"):
            parts.append(h(tr("event upcall pending (masked)") if i.get("upcall mask")
                           else tr("event upcall pending")))
        return f"<b>{h(tr('interrupts'))}</b> " + " &middot; ".join(parts)

    @staticmethod
    def _selectors(st: CpuState, prev: CpuState | None) -> str:
        """The segment selectors the core holds (RPL in bits 1:0: CS's is the CPL), TR and
        LDTR; a changed one highlighted."""
        cells = []
        for name in ("cs", "ss", "ds", "es", "fs", "gs", "tr", "ldtr"):
            value = getattr(st, name)
            mark = "background:#fff3a0" if prev is not None and getattr(prev, name) != value else ""
            cells.append(f"<span style='{mark}'>{name.upper()}&nbsp;<code>{value:#06x}</code></span>")
        return f"<b>{h(tr('selectors'))}</b> " + " ".join(cells)

    def _stack(self, st: CpuState) -> str:
        """The top of the stack: the dwords at SS:ESP (what an interrupt frame looks like)."""
        stack = f"<b>{h(tr('stack'))}</b> "
        try:
            raw = self.lab.read(st.esp, 16)
        except VlabError:
            return stack + f"<i>{h(tr('not readable at ESP'))}</i>"
        words = [int.from_bytes(raw[i:i + 4], "little") for i in range(0, len(raw), 4)]
        return stack + " ".join(f"<code>{w:#010x}</code>" for w in words) + " &uarr;ESP"

    def _table_register(self, name: str, real: TableRegister, virtual: TableRegister | None) -> str:
        """GDTR/IDTR: the one the core uses and, under a software monitor, the guest's virtual one.
        Under VT-x there is no virtual one: the guest runs on its own (loaded from the VMCS
        guest-state area at VM entry, saved there at each exit)."""
        line = f"<b>{name}</b> {h(_table_text(real))}"
        if "vmcs" in self.lab.capabilities:
            return line + " " + text(tr("(the guest's own: VMCS guest-state area)"))
        if virtual is None or virtual == real:
            return line
        if not virtual.base and not virtual.limit:
            return line + " " + text(tr("(the monitor's); the guest has loaded none yet"))
        return (line + " " + text(tr("(the monitor's)")) + "<br>&nbsp;&nbsp;"
                + h(tr("virtual {value}").format(value=_table_text(virtual))))

    def _shadow_note(self, believed: dict) -> str:
        """Under shadow paging the core's CR3 is the monitor's: say which one the guest loaded."""
        if "shadow_paging" not in self.lab.capabilities:
            return ""
        active = self.lab.memory_summary().get("active guest CR3")
        if active is None:
            return ""
        return " " + h(tr("(guest {cr3}: the core walks the shadow)").format(
            cr3=f"{believed.get('CR3', active):#010x}"))


def _table_text(register: TableRegister) -> str:
    """GDTR/IDTR: ``base=0x00100818 limit=0x0407``."""
    return tr("base={base} limit={limit}").format(base=f"{register.base:#010x}",
                                                 limit=f"{register.limit:#06x}")


def _data_text(data: bytes) -> str:
    """Bytes shown as data: ``.ascii "..."`` when printable, else ``.byte 0x..``."""
    if data and all(0x20 <= b < 0x7F and b != 0x22 for b in data):
        return f'.ascii "{data.decode()}"'
    return ".byte " + ", ".join(f"{b:#04x}" for b in data)


class CodeView(HtmlView):
    """Disassembly around EIP with the current instruction marked and kernel symbols;
    privileged/sensitive instructions coloured by class (with a legend); bytes of the image
    that are data shown as data; under binary translation, each instruction's translated form."""

    css = "vlab-code"
    window = 14

    def listing(self, start: int) -> list:
        """Up to ``window`` rows from ``start``: decoded instructions, and ``(address, bytes)``
        for data (``lab.data_ranges()``), never disassembled."""
        lab = self.lab
        data = sorted(lab.data_ranges())
        out: list = []
        address = start
        while len(out) < self.window:
            inside = next(((a, d) for a, d in data if a <= address < a + len(d)), None)
            if inside is not None:
                a, d = inside
                out.append((address, d[address - a:]))
                address = a + len(d)
                continue
            stop = min((a for a, _ in data if a > address), default=None)
            wanted = self.window - len(out)
            insns = lab.disassemble(address, wanted)
            for insn in insns:
                if stop is not None and insn.address + insn.size > stop:
                    if insn.address < stop:  # decoding ran into the data: the bytes before it
                        out.append((insn.address, lab.read(insn.address, stop - insn.address)))
                    address = stop
                    break
                out.append(insn)
                address = insn.address + insn.size
            else:
                if len(insns) < wanted:
                    break  # the memory after them cannot be read (or decoded)
        return out[:self.window]

    def render(self) -> str:
        lab = self.lab
        eip = lab.state().eip
        caps = lab.capabilities
        blocks = lab.translations if "translation_cache" in caps or "vmcs" in caps else []
        start = next((b.address for b in blocks if b.address <= eip < b.end), eip)
        rows = self.listing(start)  # from the start of EIP's block, if that shows EIP
        if start != eip and not any(getattr(r, "address", None) == eip for r in rows):
            start, rows = eip, self.listing(eip)
        end = max((r.address + r.size if not isinstance(r, tuple) else r[0] + len(r[1])
                   for r in rows), default=start)
        forms = {}
        for b in blocks:
            if b.address < end and b.end > start:
                forms.update((r["address"], r["translated"]) for r in b.rows())
        vmx = "vmcs" in caps
        out = []
        for row in rows:
            if isinstance(row, tuple):
                address, data = row
                out.append(f"<tr><td></td><td style='{CELL}'><code>{address:#010x}</code></td>"
                           f"<td style='{CELL};color:#888'>{h(lab.symbol(address) or '')}</td>"
                           f"<td style='{CELL};color:#2ca02c'><code>{h(_data_text(data))}</code>"
                           f" <span style='color:#888'>{h(tr('(data, not code)'))}</span></td>"
                           + ("<td></td>" if forms else "") + "</tr>")
                continue
            insn = row
            colour = CLASS_COLOURS.get(insn.klass, "inherit")
            mark = "&#9654;" if insn.address == eip else ""
            name = lab.symbol(insn.address) or ""
            sym = name if (insn.address == start or "+" not in name) else ""
            form = ""
            if forms:
                form = f"<td style='{WRAP}'>{_form(forms.get(insn.address), vmx)}</td>"
            tip = CLASS_LEGEND.get(insn.klass)
            title = f" title='{h(tr(tip[0]))}: {h(tr(tip[1]))}'" if tip else ""
            out.append(f"<tr><td style='{CELL}'>{mark}</td>"
                       f"<td style='{CELL}'><code>{insn.address:#010x}</code></td>"
                       f"<td style='{CELL};color:#888'>{h(sym)}</td>"
                       f"<td style='{CELL};color:{colour}'{title}><code>{h(insn.text)}</code>"
                       f"</td>{form}</tr>")
        column = (tr("VM exit? (VMCS controls)") if vmx else tr("translated")) if forms else ""
        head = (f"<tr><th></th><th style='{CELL}'>{h(tr('address'))}</th><th></th>"
                f"<th style='{CELL}'>{h(tr('instruction'))}</th>"
                + (f"<th style='{CELL}'>{h(column)}</th>" if column else "") + "</tr>")
        return (f"<div><table style='{TABLE};font-size:90%'>{head}{''.join(out)}</table>"
                f"{legend()}</div>")


def _form(text: str | None, vmx: bool) -> str:
    """An instruction's translated form (binary translation: as the translator reports it), or
    under VT-x whether the scanner marked it as one the VMCS controls can make exit."""
    if text is None:
        return ""
    if vmx:  # nothing is translated in VMX non-root mode
        return (f"<span style='color:#1f77b4'>{h(tr('can exit (the VMCS controls decide)'))}"
                "</span>" if not text.startswith(("as is", "lookup")) else
                f"<span style='color:#888'>{h(tr('no exit: runs natively'))}</span>")
    colour = ("#888" if text.startswith(("as is", "lookup")) else
              "#d62728" if text.startswith("callout") else "#2ca02c")
    return f"<span style='color:{colour}'>{h(translated_form(text))}</span>"


def legend() -> str:
    """What the code view's colours mean."""
    items = "".join(
        f"<div style='{WRAP}'><span style='color:{CLASS_COLOURS[k]}'>&#9632; {h(tr(name))}</span>"
        f" &mdash; {h(tr(text))}</div>" for k, (name, text) in CLASS_LEGEND.items())
    return f"<div class='vlab-legend' style='font-size:80%;margin-top:4px'>{items}</div>"


class ConsoleView(HtmlView):
    """The guest's serial console (the latest lines)."""

    css = "vlab-console"
    lines = 40

    def render(self) -> str:
        tail = self.lab.console[-self.lines * 200:]  # bounded, however long the console grows
        text = "\n".join(tail.splitlines()[-self.lines:])
        return (f"<pre style='background:#111;color:#ddd;padding:6px;max-height:22em;"
                f"overflow:auto;white-space:pre-wrap;overflow-wrap:anywhere'>"
                f"{h(text) or '&nbsp;'}</pre>")


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
            return (f"<div><i>{h(tr(diagram.INSTALL_HINT))}</i>"
                    f"<pre style='overflow:auto'>{h(dot)}</pre></div>")
        return f"<div>{fit_svg(svg)}</div>"


#: The VMCS tab's sections: (title, which fields). Controls and exit information are always
#: shown; the guest-state area shows what the guest runs on (its own CR3, GDTR, IDTR: under
#: VT-x nothing about them is virtual), the rest only when the last exit changed it.
_VMCS_SECTIONS = (
    (N_("VM-execution controls (what makes the guest exit; SDM 25.6)"),
     lambda f: "CONTROL" in f or f in ("EXCEPTION_BITMAP", "EPT_POINTER", "CR3_TARGET_COUNT")
     or f.startswith(("CR0_", "CR4_"))),
    (N_("VM-exit information (the last exit; SDM 25.9)"),
     lambda f: f.startswith(("VM_EXIT_", "EXIT_", "IDT_VECTORING", "VM_INSTRUCTION_ERROR"))
     or f in ("GUEST_LINEAR_ADDRESS", "GUEST_PHYSICAL_ADDRESS")),
    (N_("VM-entry (the event injected at the next entry; SDM 25.8.3)"),
     lambda f: f.startswith("VM_ENTRY_") and "CONTROL" not in f),
    (N_("guest-state area (saved at the last exit, loaded at entry; SDM 25.4)"),
     lambda f: f in ("GUEST_CR0", "GUEST_CR3", "GUEST_CR4", "GUEST_RIP", "GUEST_RSP",
                     "GUEST_RFLAGS", "GUEST_GDTR_BASE", "GUEST_GDTR_LIMIT", "GUEST_IDTR_BASE",
                     "GUEST_IDTR_LIMIT", "GUEST_CS_SELECTOR", "GUEST_SS_SELECTOR")),
)


class VmcsView(HtmlView):
    """VT-x: the VMCS fields (controls, the last exit's information, what the next entry
    injects, the guest-state area), each value in hex beside what it means in the SDM's words;
    the fields the last exit changed marked."""

    css = "vlab-vmcs"

    def render(self) -> str:
        lab = self.lab
        caps = lab.capabilities
        guest = lab.guest_vmcs
        if "vmcs" not in caps and guest is None:
            return ("<i>" + h(tr("no VMCS: the active strategy is not VT-x, and the guest is no "
                                 "hypervisor with a VMCS of its own")) + "</i>")
        parts = []
        if "vmcs" in caps:
            title = (tr("vlab's VMCS: the monitor's, for its guest (L0 → L1)") if guest else
                     tr("vlab's VMCS: the monitor's, for its guest"))
            parts.append(f"<div><b>{h(title)}</b></div>" + _vmcs_table(lab.vmcs))
        if guest is not None:
            vmx = lab.guest_vmx()
            level = "L1 → L2" if "vmcs" in caps else tr("the guest hypervisor → its guest")
            head = tr("the guest hypervisor's VMCS ({level}), region {region}; {entries} VM "
                      "entries, {exits} exits").format(
                level=level, region=f"{vmx['current VMCS']:#x}", entries=f"{vmx['entries']:,}",
                exits=f"{vmx['exits']:,}")
            problem = (f"<div style='{WRAP}'>" + h(tr("last failed VM entry: {problem}").format(
                problem=guest.entry_problem)) + "</div>" if guest.entry_problem else "")
            parts.append(f"<div><b>{h(head)}</b></div>{problem}" + _vmcs_table(guest))
        return "".join(parts)


def _vmcs_table(vmcs) -> str:
    """One VMCS, by section, each value beside its meaning."""
    table = vmcs.table()
    reason = next(r["value"] for r in table if r["field"] == "VM_EXIT_REASON")
    out, placed = [], set()
    for title, wanted in _VMCS_SECTIONS:
        rows = [r for r in table if r["field"] not in placed and wanted(r["field"])]
        placed.update(r["field"] for r in rows)
        out.append(f"<tr><th colspan=4 style='{CELL};padding-top:6px'>{h(tr(title))}</th></tr>")
        out.extend(_vmcs_row(vmcs, r, reason) for r in rows)
    rest = [r for r in table if r["changed"] and r["field"] not in placed]
    if rest:
        out.append(f"<tr><th colspan=4 style='{CELL};padding-top:6px'>"
                   f"{h(tr('other fields the last exit changed'))}</th></tr>")
        out.extend(_vmcs_row(vmcs, r, reason) for r in rest)
    columns = (N_("field"), N_("enc"), N_("value"), N_("meaning"))
    head = "".join(f"<th style='{CELL}'>{h(tr(t))}</th>" for t in columns)
    return f"<table style='{TABLE};font-size:85%'><tr>{head}</tr>{''.join(out)}</table>"


def _vmcs_row(vmcs, r: dict, reason: int) -> str:
    mark = " style='background:#fff3a0'" if r["changed"] else ""
    if r["field"] == "IO_BITMAP_A" and r.get("meaning"):  # (the model's words: English)
        meaning = tr("ports that exit (bitmaps A and B): {ports}").format(
            ports=vmcs.io_exit_ports())
    else:
        meaning = r.get("meaning") or sdm.meaning(r["field"], r["value"], reason)
    if r["field"] == "VM_EXIT_REASON":
        shown = reason_html(sdm.reason_name(r["value"]), meaning)
    else:
        shown = h(meaning)
    return (f"<tr{mark}><td style='{CELL}'>{h(r['field'])}</td><td style='{CELL}'>{r['encoding']}</td>"
            f"<td style='{CELL}'><code>{r['value']:#010x}</code></td>"
            f"<td style='{WRAP}'>{shown}</td></tr>")


def counters(stats: dict) -> str:
    """Counters as ``key value`` lines (a nested mapping as one line of its own)."""
    flat = " &middot; ".join(f"{h(tr(k))} <b>{h(value_text(k, v, 'decimal'))}</b>"
                             for k, v in stats.items() if not isinstance(v, dict))
    nested = "".join(
        f"<div style='{WRAP}'><b>{h(tr(k))}</b>: "
        + (", ".join(f"{h(m)} &times;{n:,}" for m, n in v.items()) or h(tr("none"))) + "</div>"
        for k, v in stats.items() if isinstance(v, dict))
    return f"<div class='vlab-counters' style='{WRAP}'><div style='{WRAP}'>{flat}</div>{nested}</div>"


class TranslationView(HtmlView):
    """Binary translation: translated blocks (the first ``limit``), callouts, inline
    emulation, cache counters. Under VT-x nothing is translated: the blocks the monitor scans
    only say which instructions the VMCS controls can make exit."""

    css = "vlab-translations"
    limit = 60

    def render(self) -> str:
        lab = self.lab
        caps = lab.capabilities
        if "vmcs" in caps:
            return self._vmx()
        if "translation_cache" not in caps:
            return ("<i>" + text(tr("no translation cache: only binary translation rewrites the "
                                    "guest's code; here it runs as it is")) + "</i>")
        blocks = lab.translations
        rows = "".join(_block_row(lab, b) for b in blocks[:self.limit])
        hidden = len(blocks) - self.limit
        more = (f"<div>{h(tr('... and {count} more blocks').format(count=hidden))}</div>"
                if hidden > 0 else "")
        columns = (N_("block"), "", N_("insns"), N_("callouts"), N_("inline"), N_("runs"))
        head = "".join(f"<th style='{CELL}'>{h(tr(t)) if t else ''}</th>" for t in columns)
        return (counters(lab.translation_stats() or {})
                + f"<table class='vlab-blocks' style='{TABLE};font-size:85%'><tr>{head}</tr>{rows}"
                f"</table>{more}")

    def _vmx(self) -> str:
        lab = self.lab
        controls = sdm.meaning("CPU_BASED_VM_EXEC_CONTROL", lab.vmcs["CPU_BASED_VM_EXEC_CONTROL"])
        note = (f"<div style='{WRAP}'><i>" + text(tr(
            "VT-x translates nothing: the guest's code runs unmodified in VMX non-root mode, and "
            "what exits is chosen by the VMCS controls (the VMCS tab) — now: {controls}.").format(
            controls=controls)) + "</i></div>")
        blocks = lab.translations
        if not blocks:
            return note
        rows = "".join(
            f"<tr><td style='{CELL}'><code>{b.address:#010x}</code></td>"
            f"<td style='{CELL}'>{h(lab.symbol(b.address) or '')}</td>"
            f"<td style='{CELL}'>{len(b.instructions)}</td><td style='{WRAP}'>"
            f"{h(', '.join(i.mnemonic for i in b.instructions if i.address in b.callouts))}</td></tr>"
            for b in blocks[:self.limit])
        columns = (N_("scanned block"), "", N_("insns"),
                   N_("instructions the VMCS controls can make exit"))
        head = "".join(f"<th style='{CELL}'>{h(tr(t)) if t else ''}</th>" for t in columns)
        return note + (f"<table class='vlab-blocks' style='{TABLE};font-size:85%'><tr>{head}</tr>"
                       f"{rows}</table>")


def _block_row(lab: Lab, b) -> str:
    kinds: dict[str, list[str]] = {"callout": [], "inline": []}
    for r in b.rows():
        form = r["translated"]
        if form.startswith(("as is", "lookup")):
            continue
        kinds["callout" if form.startswith("callout") else "inline"].append(r["original"].split()[0])
    runs = "" if b.executions is None else f"{b.executions:,}"
    return (f"<tr><td style='{CELL}'><code>{b.address:#010x}</code></td>"
            f"<td style='{CELL}'>{h(lab.symbol(b.address) or '')}</td>"
            f"<td style='{CELL}'>{len(b.instructions)}</td>"
            f"<td style='{WRAP}'>{h(', '.join(kinds['callout']))}</td>"
            f"<td style='{WRAP}'>{h(', '.join(kinds['inline']))}</td><td style='{CELL}'>{runs}</td></tr>")
