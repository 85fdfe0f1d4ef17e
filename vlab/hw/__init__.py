"""The machine as hardware: what a real x86 PC would give a hypervisor to run on.

- :mod:`~vlab.hw.core`: the Unicorn core and the probes that reach its hidden state;
- :mod:`~vlab.hw.paging`: 32-bit paging as the CPU walks it (pure functions);
- :mod:`~vlab.hw.delivery`: interrupt and exception delivery through an IDT;
- :mod:`~vlab.hw.devices`: serial console, PIC, timer, exit device;
- :mod:`~vlab.hw.machine`: the :class:`Machine` that composes them.

Nothing here knows about monitors or strategies: a monitor above observes the machine's events.
"""
