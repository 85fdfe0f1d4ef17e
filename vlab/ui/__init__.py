"""The lab's user interface: ipywidgets views of a :class:`~vlab.lab.Lab`, the architecture
diagrams, the ``%%asm`` cell magic and the "x86 (vlab)" Jupyter kernel.

The Lab never imports this package: it names it (``Lab.VIEW_MODULE``) and asks it for
``LabWidget`` and ``static_html``.
"""

from __future__ import annotations

from .views import (
    CodeView,
    ConsoleView,
    Controls,
    DiagramView,
    LabWidget,
    MemoryView,
    RegisterView,
    StrategyToggle,
    TranslationView,
    TrapLogView,
    VmcsView,
    static_html,
)

__all__ = ["LabWidget", "static_html", "RegisterView", "CodeView", "ConsoleView", "TrapLogView",
           "DiagramView", "VmcsView", "TranslationView", "MemoryView", "Controls",
           "StrategyToggle"]
