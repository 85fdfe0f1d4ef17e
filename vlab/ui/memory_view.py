"""The Memory tab: how one guest address reaches memory under the active strategy."""

from __future__ import annotations

import re
from collections.abc import Collection

from ..errors import VlabError
from ..i18n import N_, tr
from . import diagram
from .base import HtmlView
from .display import CELL, SCROLL, TABLE, WRAP, counts, h, svg_in_px
from .words import entry_flags, fault_text, mechanism, translation_lines

PAGE_TABLE_TITLES = {"guest": N_("guest page tables (GVA → GPA)"),
                     "shadow": N_("shadow (GVA → HPA)"), "ept": N_("EPT (GPA → HPA)")}


def memory_story(capabilities: Collection[str], paging: bool) -> tuple[str, str]:
    """(what is true of memory under a strategy with these capabilities, the note on a host-
    physical address equal to the guest-physical one). ``paging``: the guest has paging on."""
    if "virtual_cpu" not in capabilities:
        return (tr("no monitor: the guest owns the machine, its physical addresses are the "
                   "host's (GPA = HPA)"), tr("= GPA: no monitor"))
    if "pv_mmu" in capabilities:
        return (tr("paravirtual: the guest's page tables hold machine frames (host-physical "
                   "addresses) directly; the hypervisor validates every update (mmu_update) "
                   "instead of shadowing them"), tr("= GPA: a machine frame"))
    vmx = "vmcs" in capabilities
    if "ept" in capabilities:
        story = tr("the guest's own page tables map GVA → GPA, the EPT maps GPA → HPA (the "
                   "second dimension, walked by the hardware)")
        return (tr("VT-x: {story}").format(story=story) if vmx else story, tr("through EPT"))
    shadow = tr("the monitor's shadow page tables map guest-virtual → host-physical directly "
                "(the core walks them, CR3 holds the monitor's); the guest's own tables are "
                "kept in sync by write-protecting them")
    if paging:
        return (tr("VT-x: no EPT, so {shadow}").format(shadow=shadow) if vmx else shadow,
                tr("from the shadow"))
    story = tr("the guest has paging off: the monitor runs it on guest RAM placed 1:1 (GPA = "
               "HPA); once it turns paging on, {shadow}").format(shadow=shadow)
    return (tr("VT-x: {story}").format(story=story) if vmx else story,
            tr("= GPA: guest RAM placed 1:1"))


class MemoryView(HtmlView):
    """Paging: for the address the last page fault touched (else EIP), the guest's walk and
    beside it the shadow's walk or the EPT entry, as a table and a graphviz diagram; what is
    true of memory under the active strategy; the monitor's MMU counters and its latest page
    faults (hidden / true / page-table write)."""

    css = "vlab-memory"
    min_interval = 0.5  # a new walk runs graphviz
    faults_shown = 8
    mappings_shown = 16

    def focus_address(self) -> int:
        """The address to show: the last page fault's, else the last exit's, else EIP."""
        lab = self.lab
        faults = lab.page_faults()
        if faults:
            return faults[-1].linear
        for e in reversed(lab.trace.recent):
            value = e.detail.get("cr2", e.detail.get("linear"))
            if value is not None:
                return value
        return lab.state().eip

    def render(self) -> str:
        lab = self.lab
        try:
            t = lab.translate(self.focus_address())
        except VlabError as e:
            return f"<i>{h(e)}</i>"
        story, note = memory_story(lab.capabilities, t.guest is not None)
        stats = " &middot; ".join(f"{h(tr(k))} <b>{h(_stat(k, v))}</b>"
                                  for k, v in lab.memory_summary().items())
        walk = "<br>".join(h(line) for line in translation_lines(t))
        faults = "".join(f"<li style='{WRAP}'><code>{h(fault_text(f))}</code></li>"
                         for f in lab.page_faults()[-self.faults_shown:])
        svg = diagram.render_svg(diagram.translation_dot(t, note))
        return (f"<div class='vlab-memory-story' style='{WRAP}'><b>{h(mechanism(t.mechanism))}"
                f"</b>: {h(story)}</div>"
                + (f"<div style='{WRAP}'>{stats}</div>" if stats else "")
                + f"<div class='vlab-walk'><code>{walk}</code></div>"
                # the walk is drawn left to right at a readable size: a narrow tab scrolls it
                + (f"<div class='vlab-walk-drawing' style='{SCROLL}'>{svg_in_px(svg)}</div>"
                   if svg is not None else f"<div><i>{h(tr(diagram.INSTALL_HINT))}</i></div>")
                + (f"<div>{h(tr('latest page faults:'))}<ul>{faults}</ul></div>" if faults else "")
                + self._tables())

    def _tables(self) -> str:
        """The guest's mappings beside the shadow's (or the EPT's), side by side (one under
        the other when the tab is narrow)."""
        tables = self.lab.page_tables(limit=self.mappings_shown)
        if not tables:
            return ""
        cols = []
        for name, rows in tables.items():
            body = "".join(f"<tr><td style='{CELL}'><code>{a:#010x}</code></td>"
                           f"<td style='{CELL}'><code>{f:#010x}</code></td>"
                           f"<td style='{CELL}'>{h(_flags(e))}</td></tr>"
                           for a, e, f in rows)
            cols.append(f"<div><b>{h(tr(PAGE_TABLE_TITLES[name]))}</b><table "
                        f"style='{TABLE};font-size:85%'>{body}</table></div>")
        return (f"<div class='vlab-page-tables' style='display:flex;flex-wrap:wrap;gap:4px 24px'>"
                f"{''.join(cols)}</div>")


def _flags(entry: int) -> str:
    """A mapping's flags after P (``W U A``), as the page-table columns show them."""
    return " " + " ".join(entry_flags(entry)) if entry & 1 else tr("not present")


def _stat(key: str, value) -> str:
    """An MMU counter in decimal; a CR3 value or an address in hex."""
    if isinstance(value, bool):
        return tr(str(value))
    if not isinstance(value, int):
        return str(value)
    if not counts(key) and re.search(r"(cr3|address)$", key, re.I):  # ("active guest CR3")
        return f"{value:#010x}"
    return f"{value:,}"
