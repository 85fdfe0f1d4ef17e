"""The Memory tab: how one guest address reaches memory under the active strategy."""

from __future__ import annotations

from vlab.hw.paging import entry_text

from ..errors import VlabError
from . import diagram
from .base import HtmlView, h

PAGE_TABLE_TITLES = {"guest": "guest page tables (GVA → GPA)", "shadow": "shadow (GVA → HPA)",
                     "ept": "EPT (GPA → HPA)"}


class MemoryView(HtmlView):
    """Paging: for the address the last page fault touched (else EIP), the guest's walk and
    beside it the shadow's walk or the EPT entry, as a table and a graphviz diagram; the
    monitor's MMU counters and its latest page faults (hidden / true / page-table write)."""

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
        stats = ", ".join(f"{h(k)} {h(hex(v) if k == 'active guest CR3' and v else v)}"
                          for k, v in lab.memory_summary().items())
        walk = "<br>".join(h(line) for line in t.lines())
        faults = "".join(f"<li><code>{h(f.text())}</code></li>"
                         for f in lab.page_faults()[-self.faults_shown:])
        svg = diagram.render_svg(diagram.translation_dot(t))
        return (f"<div><b>{h(t.mechanism)}</b> &middot; "
                f"{stats or 'the monitor keeps no page tables here'}</div>"
                f"<div class='vlab-walk'><code>{walk}</code></div>"
                f"<div>{svg if svg is not None else f'<i>{h(diagram.INSTALL_HINT)}</i>'}</div>"
                + (f"<div>latest page faults:<ul>{faults}</ul></div>" if faults else "")
                + self._tables())

    def _tables(self) -> str:
        """The guest's mappings beside the shadow's (or the EPT's), side by side."""
        tables = self.lab.page_tables(limit=self.mappings_shown)
        if not tables:
            return ""
        cols = []
        for name, rows in tables.items():
            body = "".join(f"<tr><td><code>{a:#010x}</code></td><td><code>{f:#010x}</code></td>"
                           f"<td>{h(entry_text(e).split(' P', 1)[-1])}</td></tr>"
                           for a, e, f in rows)
            cols.append(f"<td style='vertical-align:top'><b>{h(PAGE_TABLE_TITLES[name])}</b><table "
                        f"style='font-size:85%'>{body}</table></td>")
        return f"<table class='vlab-page-tables'><tr>{''.join(cols)}</tr></table>"
