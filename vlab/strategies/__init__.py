"""Virtualization strategies: how the guest kernel runs and what reaches the monitor.

Each strategy configures a :class:`~vlab.hw.machine.Machine` and turns raw core events into
:class:`~vlab.monitor.trace.Exit` records dispatched to a handler table. They are interchangeable on the
same guest image (README, "The five strategies").
"""

from __future__ import annotations

from vlab.errors import VlabError
from vlab.monitor.base import Strategy
from vlab.strategies.binary_translation import BinaryTranslation
from vlab.strategies.native import Native
from vlab.strategies.paravirt import Paravirt
from vlab.strategies.trap_emulate import TrapAndEmulate
from vlab.strategies.vtx import VtX
from vlab.strategies.vtx.nonroot import NonRoot

#: A hypervisor running natively has its guest run by the VT-x model, in VMX non-root operation.
Native.nonroot = NonRoot

STRATEGIES: dict[str, type[Strategy]] = {
    "native": Native, "trap_emulate": TrapAndEmulate, "binary_translation": BinaryTranslation,
    "vtx": VtX, "paravirt": Paravirt,
}


def get(name: str) -> type[Strategy]:
    """The strategy class called ``name``."""
    if name in STRATEGIES:
        return STRATEGIES[name]
    raise VlabError(f"unknown strategy {name!r}; available: {', '.join(STRATEGIES)}")


__all__ = ["Strategy", "Native", "TrapAndEmulate", "BinaryTranslation", "VtX", "Paravirt",
           "STRATEGIES", "get"]
