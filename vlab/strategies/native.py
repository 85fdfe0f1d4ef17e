"""Native: the guest kernel at ring 0 on the core, no monitor. The reference behaviour.

Interrupts and exceptions go through the guest's own IDT (delivered by the machine exactly as the
CPU would), port I/O goes straight to the devices, and nothing ever reaches a monitor: the trace of
a native run is empty by definition.
"""

from __future__ import annotations

from vlab.monitor.base import Strategy


class Native(Strategy):
    name = "native"
    title = "native (no monitor)"
    kernel_ring = 0
    monitor_runs_in = "none"
