"""Architecture diagrams (graphviz): rings and modes for a strategy, the last exit's path lit.

``architecture(lab.capabilities)`` names the picture that fits the active strategy,
``dot_source(name, last_exit)`` builds its DOT text, ``translation_dot(t)`` one address
translation's; ``render_svg(dot)`` runs graphviz's ``dot`` and returns SVG, or None when the
``dot`` binary is missing (the UI then shows the DOT text and a hint).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Collection

from ..i18n import N_, tr
from .words import entry_words, reason_help

INSTALL_HINT = N_("install graphviz to draw diagrams: apt-get install -y graphviz (or: conda "
                  "install graphviz)")


@dataclass(frozen=True)
class Picture:
    """Boxes (top to bottom), arrows between them (from, to, label; the arrow 1 -> 2 is the
    one an exit takes into the monitor) and dashed clusters (label, boxes)."""

    nodes: tuple[str, ...]
    edges: tuple[tuple[int, int, str], ...]
    clusters: tuple[tuple[str, tuple[int, ...]], ...] = ()
    exit_edge: tuple[int, int] = (1, 2)  # the arrow the last exit is drawn on


PICTURES = {
    "native": Picture((N_("user task\nring 3"), N_("kernel\nring 0"), "CPU"),
                      ((0, 1, N_("int 0x80 / faults")), (1, 0, "iret"),
                       (1, 2, N_("runs directly")))),
    "trap_emulate": Picture((N_("user task\nring 3"), N_("guest kernel\nring 1 (believes 0)"),
                             N_("monitor\nring 0"), "CPU"),
                            ((0, 1, N_("int 0x80 (reflected)")), (1, 2, N_("#GP trap")),
                             (2, 1, N_("emulate + iret")), (2, 3, N_("owns")))),
    "binary_translation": Picture((N_("user task\nring 3 (not translated)"),
                                   N_("guest kernel\nring 1, translated code"),
                                   N_("monitor\nring 0"), "CPU"),
                                  ((0, 1, N_("int 0x80 (reflected)")), (1, 2, N_("callout")),
                                   (2, 1, N_("back to translated code")), (2, 3, N_("owns")))),
    "vtx": Picture((N_("user task\nnon-root ring 3"), N_("guest kernel\nnon-root ring 0"),
                    N_("monitor\nVMX root"), "CPU"),
                   ((0, 1, N_("int 0x80 (no exit)")), (1, 2, N_("VM exit")),
                    (2, 1, N_("VM entry")), (2, 3, "VMCS")),
                   ((N_("VMX non-root"), (0, 1)), (N_("VMX root"), (2,)))),
    # the guest is a hypervisor itself: natively (the CPU's VMX runs its guest), or nested under
    # vlab's VT-x monitor (L0 runs L1, which runs L2; L2's exits reach L1 through L0)
    "hypervisor": Picture((N_("guest kernel\nnon-root ring 0"), N_("guest hypervisor\nVMX root"),
                           "CPU (VMX)"),
                          ((0, 1, N_("VM exit (to HOST_RIP)")), (1, 0, "VMRESUME"),
                           (1, 2, "VMXON, VMCS")),
                          ((N_("VMX non-root"), (0,)), (N_("VMX root"), (1,))), exit_edge=(0, 1)),
    "nested": Picture((N_("L2: guest kernel\nnon-root ring 0"),
                       N_("L1: guest hypervisor\nnon-root ring 0"),
                       N_("L0: vlab's monitor\nVMX root"), "CPU"),
                      ((0, 2, N_("VM exit (L2)")), (2, 1, N_("reflected to L1")),
                       (1, 2, N_("VM exit (L1)")), (2, 0, N_("VM entry (L2)")),
                       (2, 3, "VMCS01, VMCS02")),
                      ((N_("L1's VMX non-root"), (0,)), (N_("vlab's VMX non-root"), (1,)),
                       (N_("VMX root"), (2,))), exit_edge=(0, 2)),
    "paravirt": Picture((N_("user task\nring 3"), N_("PV kernel\nring 1"),
                         N_("hypervisor\nring 0"), "CPU"),
                        ((0, 1, N_("trap bounce")), (1, 2, N_("hypercall int 0x82")),
                         (2, 1, N_("event / iret")), (2, 3, N_("owns")))),
}


def architecture(capabilities: Collection[str]) -> str:
    """The picture for a strategy with these capabilities (``lab.capabilities``): what the
    monitor has decides how the guest reaches it."""
    if "guest_vmx" in capabilities:
        return "nested" if "vmcs" in capabilities else "hypervisor"
    if "vmcs" in capabilities:
        return "vtx"
    if "hypercalls" in capabilities:
        return "paravirt"
    if "translation_cache" in capabilities:
        return "binary_translation"
    if "virtual_cpu" in capabilities:
        return "trap_emulate"
    return "native"


def dot_source(picture: str, last_exit: str | None = None) -> str:
    """DOT for one of the PICTURES; the arrow the last exit took is drawn in red."""
    p = PICTURES.get(picture, PICTURES["native"])
    lines = ["digraph vlab {", '  rankdir=TB; node [shape=box, style="rounded,filled", '
             'fillcolor="#eef3fb", fontname="Helvetica"]; edge [fontname="Helvetica", fontsize=10];']
    for i, (label, members) in enumerate(p.clusters):
        names = "; ".join(f"n{m}" for m in members)
        lines.append(f'  subgraph cluster_{i} {{ label="{_dot(tr(label))}"; style=dashed; '
                     f'{names}; }}')
    for i, label in enumerate(p.nodes):
        lines.append(f'  n{i} [label="{_dot(tr(label))}"];')
    for a, b, label in p.edges:
        lit = last_exit is not None and (a, b) == p.exit_edge
        text = tr(label)
        if lit:
            text += "\n" + tr("(last: {reason})").format(reason=last_exit)
        attrs = f'label="{_dot(text)}"'
        if lit:
            attrs += ', color="#d62728", fontcolor="#d62728", penwidth=2.5'
            help_ = reason_help(last_exit)
            if help_:  # (graphviz writes it as the arrow's <title>: shown on hover)
                attrs += f', tooltip="{_dot(last_exit + ": " + help_)}"'
        lines.append(f"  n{a} -> n{b} [{attrs}];")
    lines.append("}")
    return "\n".join(lines)


def _dot(text: str) -> str:
    """Text inside a DOT string: quotes escaped, each line break as DOT's centred ``\\n``."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_svg(dot: str) -> str | None:
    """SVG from DOT with graphviz's ``dot``; None when it is not installed. The latest pictures
    are kept, so a view that redraws the same picture does not run graphviz again."""
    exe = shutil.which("dot")
    if exe is None:
        return None
    with _CACHE_GUARD:
        svg = _CACHE.get(dot)
    if svg is None:
        svg = _run_dot(exe, dot)
        if svg is None:
            return None
        with _CACHE_GUARD:
            _CACHE[dot] = svg
            while len(_CACHE) > CACHED_PICTURES:
                _CACHE.popitem(last=False)
    return svg


CACHED_PICTURES = 64
_CACHE: OrderedDict[str, str] = OrderedDict()
_CACHE_GUARD = threading.Lock()


def _run_dot(exe: str, dot: str) -> str | None:
    try:
        out = subprocess.run([exe, "-Tsvg"], input=dot, capture_output=True, text=True,
                             timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    svg = out.stdout
    return svg[svg.find("<svg"):] if "<svg" in svg else None


def translation_dot(t, hpa_note: str = "= GPA") -> str:
    """DOT for one address translation (a :class:`vlab.translation.Translation`): the guest's walk
    GVA -> GPA, and beside it what the core uses — the shadow's walk (GVA -> HPA) or the EPT
    entry (GPA -> HPA). A level that would fault is drawn in red. ``hpa_note`` says why the
    host-physical address is the guest-physical one where nothing translates between them
    (the Memory tab says it per strategy: no monitor, machine frames, ...)."""
    from vlab.translation import ept_rights

    red = 'color="#d62728", fontcolor="#d62728"'
    out = ["digraph walk {", '  rankdir=LR; node [shape=box, style="rounded,filled", '
           'fillcolor="#eef3fb", fontname="Helvetica", fontsize=10]; '
           'edge [fontname="Helvetica", fontsize=9];',
           f'  gva [label="GVA\\n{t.linear:#010x}", fillcolor="#fff3a0"];']

    def chain(prefix: str, walk, title: str, colour: str) -> str:
        out.append(f'  subgraph cluster_{prefix} {{ label="{_dot(tr(title))}"; style=dashed;')
        out.append(f'    {prefix}_cr3 [label="CR3\\n{walk.cr3:#010x}", fillcolor="{colour}"];')
        last = f"{prefix}_cr3"
        for level, address, entry in walk.rows():
            bad = not entry & 1
            node = f"{prefix}_{level.lower()}"
            label = _dot(f"{level} @ {address:#010x}\n{entry_words(entry, level)}")
            out.append(f'    {node} [label="{label}"'
                       f', fillcolor="{colour}"{", " + red if bad else ""}];')
            out.append(f"    {last} -> {node};")
            last = node
        out.append("  }")
        out.append(f"  gva -> {prefix}_cr3 [style=dotted];")
        return last

    if t.guest is not None:
        end = chain("g", t.guest, N_("the guest's page tables (GVA -> GPA)"), "#eef3fb")
        if t.gpa is not None:
            out.append(f'  gpa [label="GPA\\n{t.gpa:#010x}"];')
            out.append(f"  {end} -> gpa;")
        else:
            refused = _dot(tr("#PF: the guest's tables refuse it"))
            out.append(f'  gfault [label="{refused}", {red}];')
            out.append(f"  {end} -> gfault;")
    elif t.gpa is not None:
        off = _dot(tr("(paging off)"))
        out.append(f'  gpa [label="GPA\\n{t.gpa:#010x}\\n{off}"];')
        out.append("  gva -> gpa;")
    if t.shadow is not None:
        end = chain("s", t.shadow, N_("the shadow page tables the core walks (GVA -> HPA)"),
                    "#e8f5e9")
        if t.hpa is not None:
            out.append(f'  hpa [label="HPA\\n{t.hpa:#010x}", fillcolor="#fff3a0"];')
            out.append(f"  {end} -> hpa;")
        else:
            hidden = _dot(tr("not shadowed yet:\na hidden page fault fills it"))
            out.append(f'  hidden [label="{hidden}", {red}];')
            out.append(f"  {end} -> hidden;")
        if t.guest is not None and t.guest.pte_address is not None:
            synced = _dot(tr("kept in sync\n(write-protected)"))
            out.append(f'  g_pte -> s_pte [style=dashed, label="{synced}"];')
    elif t.mechanism.endswith("EPT"):
        if t.ept is not None:
            g, h, p = t.ept
            entry = _dot(tr("EPT entry") + f"\n{g:#010x} -> {h:#010x} {ept_rights(p)}")
            out.append(f'  ept [label="{entry}", fillcolor="#e8f5e9"];')
            second = _dot(tr("second dimension\n(hardware)"))
            out.append(f'  gpa -> ept [label="{second}"];')
            out.append(f'  hpa [label="HPA\\n{t.hpa:#010x}", fillcolor="#fff3a0"];')
            out.append("  ept -> hpa;")
        elif t.gpa is not None:
            unmapped = _dot(tr("EPT: not mapped\n(EPT violation, exit 48)"))
            out.append(f'  ept [label="{unmapped}", {red}];')
            out.append("  gpa -> ept;")
    elif t.hpa is not None and t.gpa is not None:
        out.append(f'  hpa [label="HPA\\n{t.hpa:#010x}\\n({_dot(hpa_note)})", fillcolor="#fff3a0"];')
        out.append("  gpa -> hpa;")
    out.append("}")
    return "\n".join(out)
