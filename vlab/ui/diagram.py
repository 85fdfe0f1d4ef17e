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

INSTALL_HINT = "install graphviz to draw diagrams: apt-get install -y graphviz (or: conda install graphviz)"


@dataclass(frozen=True)
class Picture:
    """Boxes (top to bottom), arrows between them (from, to, label; the arrow 1 -> 2 is the
    one an exit takes into the monitor) and dashed clusters (label, boxes)."""

    nodes: tuple[str, ...]
    edges: tuple[tuple[int, int, str], ...]
    clusters: tuple[tuple[str, tuple[int, ...]], ...] = ()
    exit_edge: tuple[int, int] = (1, 2)  # the arrow the last exit is drawn on


PICTURES = {
    "native": Picture(("user task\\nring 3", "kernel\\nring 0", "CPU"),
                      ((0, 1, "int 0x80 / faults"), (1, 0, "iret"), (1, 2, "runs directly"))),
    "trap_emulate": Picture(("user task\\nring 3", "guest kernel\\nring 1 (believes 0)",
                             "monitor\\nring 0", "CPU"),
                            ((0, 1, "int 0x80 (reflected)"), (1, 2, "#GP trap"),
                             (2, 1, "emulate + iret"), (2, 3, "owns"))),
    "binary_translation": Picture(("user task\\nring 3 (not translated)",
                                   "guest kernel\\nring 1, translated code", "monitor\\nring 0",
                                   "CPU"),
                                  ((0, 1, "int 0x80 (reflected)"), (1, 2, "callout"),
                                   (2, 1, "back to translated code"), (2, 3, "owns"))),
    "vtx": Picture(("user task\\nnon-root ring 3", "guest kernel\\nnon-root ring 0",
                    "monitor\\nVMX root", "CPU"),
                   ((0, 1, "int 0x80 (no exit)"), (1, 2, "VM exit"), (2, 1, "VM entry"),
                    (2, 3, "VMCS")),
                   (("VMX non-root", (0, 1)), ("VMX root", (2,)))),
    # the guest is a hypervisor itself: natively (the CPU's VMX runs its guest), or nested under
    # vlab's VT-x monitor (L0 runs L1, which runs L2; L2's exits reach L1 through L0)
    "hypervisor": Picture(("guest kernel\nnon-root ring 0", "guest hypervisor\nVMX root",
                           "CPU (VMX)"),
                          ((0, 1, "VM exit (to HOST_RIP)"), (1, 0, "VMRESUME"),
                           (1, 2, "VMXON, VMCS")),
                          (("VMX non-root", (0,)), ("VMX root", (1,))), exit_edge=(0, 1)),
    "nested": Picture(("L2: guest kernel\nnon-root ring 0", "L1: guest hypervisor\nnon-root ring 0",
                       "L0: vlab's monitor\nVMX root", "CPU"),
                      ((0, 2, "VM exit (L2)"), (2, 1, "reflected to L1"), (1, 2, "VM exit (L1)"),
                       (2, 0, "VM entry (L2)"), (2, 3, "VMCS01, VMCS02")),
                      (("L1's VMX non-root", (0,)), ("vlab's VMX non-root", (1,)),
                       ("VMX root", (2,))), exit_edge=(0, 2)),
    "paravirt": Picture(("user task\\nring 3", "PV kernel\\nring 1", "hypervisor\\nring 0", "CPU"),
                        ((0, 1, "trap bounce"), (1, 2, "hypercall int 0x82"), (2, 1, "event / iret"),
                         (2, 3, "owns"))),
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
        lines.append(f'  subgraph cluster_{i} {{ label="{label}"; style=dashed; {names}; }}')
    for i, label in enumerate(p.nodes):
        lines.append(f'  n{i} [label="{label}"];')
    for a, b, label in p.edges:
        lit = last_exit is not None and (a, b) == p.exit_edge
        attrs = f'label="{label}' + (f"\\n(last: {last_exit})" if lit else "") + '"'
        if lit:
            attrs += ', color="#d62728", fontcolor="#d62728", penwidth=2.5'
        lines.append(f"  n{a} -> n{b} [{attrs}];")
    lines.append("}")
    return "\n".join(lines)


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
    from vlab.hw.paging import entry_text
    from vlab.translation import ept_rights

    red = 'color="#d62728", fontcolor="#d62728"'
    out = ["digraph walk {", '  rankdir=LR; node [shape=box, style="rounded,filled", '
           'fillcolor="#eef3fb", fontname="Helvetica", fontsize=10]; '
           'edge [fontname="Helvetica", fontsize=9];',
           f'  gva [label="GVA\\n{t.linear:#010x}", fillcolor="#fff3a0"];']

    def chain(prefix: str, walk, title: str, colour: str) -> str:
        out.append(f'  subgraph cluster_{prefix} {{ label="{title}"; style=dashed;')
        out.append(f'    {prefix}_cr3 [label="CR3\\n{walk.cr3:#010x}", fillcolor="{colour}"];')
        last = f"{prefix}_cr3"
        for level, address, entry in walk.rows():
            bad = not entry & 1
            node = f"{prefix}_{level.lower()}"
            out.append(f'    {node} [label="{level} @ {address:#010x}\\n{entry_text(entry, level)}"'
                       f', fillcolor="{colour}"{", " + red if bad else ""}];')
            out.append(f"    {last} -> {node};")
            last = node
        out.append("  }")
        out.append(f"  gva -> {prefix}_cr3 [style=dotted];")
        return last

    if t.guest is not None:
        end = chain("g", t.guest, "the guest's page tables (GVA -> GPA)", "#eef3fb")
        if t.gpa is not None:
            out.append(f'  gpa [label="GPA\\n{t.gpa:#010x}"];')
            out.append(f"  {end} -> gpa;")
        else:
            out.append(f'  gfault [label="#PF: the guest\'s tables refuse it", {red}];')
            out.append(f"  {end} -> gfault;")
    elif t.gpa is not None:
        out.append(f'  gpa [label="GPA\\n{t.gpa:#010x}\\n(paging off)"];')
        out.append("  gva -> gpa;")
    if t.shadow is not None:
        end = chain("s", t.shadow, "the shadow page tables the core walks (GVA -> HPA)",
                    "#e8f5e9")
        if t.hpa is not None:
            out.append(f'  hpa [label="HPA\\n{t.hpa:#010x}", fillcolor="#fff3a0"];')
            out.append(f"  {end} -> hpa;")
        else:
            out.append(f'  hidden [label="not shadowed yet:\\na hidden page fault fills it", {red}];')
            out.append(f"  {end} -> hidden;")
        if t.guest is not None and t.guest.pte_address is not None:
            out.append('  g_pte -> s_pte [style=dashed, label="kept in sync\\n(write-protected)"];')
    elif t.mechanism.endswith("EPT"):
        if t.ept is not None:
            g, h, p = t.ept
            out.append(f'  ept [label="EPT entry\\n{g:#010x} -> {h:#010x} {ept_rights(p)}", '
                       'fillcolor="#e8f5e9"];')
            out.append('  gpa -> ept [label="second dimension\\n(hardware)"];')
            out.append(f'  hpa [label="HPA\\n{t.hpa:#010x}", fillcolor="#fff3a0"];')
            out.append("  ept -> hpa;")
        elif t.gpa is not None:
            out.append(f'  ept [label="EPT: not mapped\\n(EPT violation, exit 48)", {red}];')
            out.append("  gpa -> ept;")
    elif t.hpa is not None and t.gpa is not None:
        out.append(f'  hpa [label="HPA\\n{t.hpa:#010x}\\n({hpa_note})", fillcolor="#fff3a0"];')
        out.append("  gpa -> hpa;")
    out.append("}")
    return "\n".join(out)
