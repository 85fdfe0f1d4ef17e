"""The lab's user interface: ipywidgets views of a :class:`~vlab.lab.Lab`, the architecture
diagrams, the ``%%asm`` cell magic and the "x86 (vlab)" Jupyter kernel.

Every view is an ipywidgets widget that observes a Lab through ``lab.events`` and reads it
through its public API; only the controls act on it (through :class:`LabActions`). The Lab never
imports this package: it names it (``Lab.VIEW_MODULE``) and asks it for ``LabWidget`` and
``static_html``. CSS classes (``vlab-step``, ``vlab-eip`` ...) name the parts for browser tests.

    base.py         LabView: observing, throttling, the Lab's lock     views.py        simple views
    trap_log.py     the trap log                                        memory_view.py  paging
    actions.py      what the controls do                                controls.py     controls
    app.py          LabWidget, static_html                              diagram.py      graphviz
    magic.py        %%asm                                               kernel.py       the kernel
    words.py        the model's values in the lab's language (exit reasons, qualifications, ...)

Every word a view shows goes through ``vlab.tr`` (English in the code, the translation in
``vlab/locale``); ``vlab.set_language`` redraws every open view.
"""

from __future__ import annotations

from .actions import LabActions
from .app import HistoryView, LabWidget, static_html
from .base import MAX_REDRAWS_PER_S, LabView, flush
from .controls import Controls, StrategyToggle
from .memory_view import MemoryView
from .trap_log import TrapLogView
from .views import CodeView, ConsoleView, DiagramView, RegisterView, TranslationView, VmcsView

#: Every view class (each an ipywidgets widget that can be built alone from a Lab).
VIEWS = (RegisterView, CodeView, ConsoleView, TrapLogView, DiagramView, VmcsView, TranslationView,
         MemoryView, Controls, StrategyToggle, HistoryView)

__all__ = ["LabWidget", "static_html", "LabActions", "LabView", "flush", "MAX_REDRAWS_PER_S",
           "VIEWS", "RegisterView", "CodeView", "ConsoleView", "TrapLogView", "DiagramView",
           "VmcsView", "TranslationView", "MemoryView", "Controls", "StrategyToggle", "HistoryView"]
