"""The guest's devices: a 16550-style serial port (the console), an 8259-style interrupt
controller, a deterministic timer and an exit device.

Devices know nothing of Unicorn: the machine routes port I/O to them. Their state is plain data so
that a snapshot can copy it and a restore can put it back.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

SERIAL_PORT = 0x3F8
PIC_COMMAND, PIC_DATA = 0x20, 0x21
TIMER_PORT = 0x40
EXIT_PORT = 0xF4
TIMER_VECTOR = 0x20  # IRQ0 after the kernel's PIC remap convention (vector 0x20)
EOI = 0x20


@dataclass
class SerialPort:
    """A 16550 UART reduced to what a console needs: THR writes append to the console, LSR says
    "transmitter empty"."""

    base: int = SERIAL_PORT
    console: bytearray = field(default_factory=bytearray)
    ier: int = 0
    lcr: int = 0
    scratch: int = 0
    limit: int = 1 << 20  # bytes kept; a guest printing forever cannot eat the host's memory
    dropped: int = 0

    LSR_THRE, LSR_TEMT = 0x20, 0x40

    def handles(self, port: int) -> bool:
        return self.base <= port < self.base + 8

    def read(self, port: int) -> int:
        reg = port - self.base
        if reg == 5:  # line status: transmitter holding register empty and transmitter empty
            return self.LSR_THRE | self.LSR_TEMT
        return {1: self.ier, 3: self.lcr, 7: self.scratch}.get(reg, 0)

    def write(self, port: int, value: int) -> None:
        reg = port - self.base
        if reg == 0 and not self.lcr & 0x80:
            if len(self.console) < self.limit:
                self.console.append(value & 0xFF)
            else:
                self.dropped += 1
        elif reg == 1:
            self.ier = value & 0xFF
        elif reg == 3:
            self.lcr = value & 0xFF
        elif reg == 7:
            self.scratch = value & 0xFF

    @property
    def text(self) -> str:
        return self.console.decode("latin-1")


@dataclass
class Pic:
    """The master 8259: a mask (port 0x21, all masked at boot), a request and an in-service bit
    per line, and non-specific EOI (``out 0x20, 0x20``)."""

    mask: int = 0xFF
    irr: int = 0  # requested, not yet delivered
    isr: int = 0  # delivered, waiting for EOI
    vector_base: int = TIMER_VECTOR

    def handles(self, port: int) -> bool:
        return port in (PIC_COMMAND, PIC_DATA)

    def read(self, port: int) -> int:
        return self.mask if port == PIC_DATA else self.irr

    def write(self, port: int, value: int) -> None:
        if port == PIC_DATA:
            self.mask = value & 0xFF
        elif value & 0x20:  # non-specific EOI: clear the highest-priority in-service line
            if self.isr:
                self.isr &= self.isr - 1

    def raise_irq(self, line: int) -> None:
        self.irr |= 1 << line

    def pending_vector(self) -> int | None:
        """The vector the PIC would present now, or None (masked, nothing pending, or busy)."""
        ready = self.irr & ~self.mask & 0xFF
        if not ready or self.isr:
            return None
        line = (ready & -ready).bit_length() - 1
        return self.vector_base + line

    def acknowledge(self, vector: int) -> None:
        bit = 1 << (vector - self.vector_base)
        self.irr &= ~bit
        self.isr |= bit


@dataclass
class Timer:
    """IRQ0 every ``period`` instructions of virtual time. ``out 0x40, eax`` sets the period
    (0 stops the timer). Deterministic: time is guest instructions, never the wall clock."""

    period: int = 10_000
    next_deadline: int = 10_000
    ticks: int = 0

    def handles(self, port: int) -> bool:
        return port == TIMER_PORT

    def read(self, port: int) -> int:
        return self.period

    def reprogram(self, period: int, now: int) -> None:
        self.period = max(0, period)
        self.next_deadline = now + self.period if self.period else 0


@dataclass
class ExitDevice:
    """``out 0xf4, al`` ends the run with exit code ``al`` (like QEMU's isa-debug-exit)."""

    code: int | None = None

    def handles(self, port: int) -> bool:
        return port == EXIT_PORT


@dataclass
class Devices:
    """All devices of one machine; copied whole by snapshots."""

    serial: SerialPort = field(default_factory=SerialPort)
    pic: Pic = field(default_factory=Pic)
    timer: Timer = field(default_factory=Timer)
    exit: ExitDevice = field(default_factory=ExitDevice)

    def copy(self) -> Devices:
        return copy.deepcopy(self)

    def read(self, port: int) -> int:
        """IN from ``port``: the device that decodes it answers; nothing there reads all ones
        (the bus floats high)."""
        for device in (self.serial, self.pic, self.timer):
            if device.handles(port):
                return device.read(port)
        return 0xFFFF_FFFF

    def write(self, port: int, value: int, now: int) -> str | None:
        """OUT to ``port`` at virtual time ``now``. Returns what the machine must do next:
        "exit" (the exit device was written), "resample" (what may interrupt changed: a PIC mask
        or EOI, a new timer period), or None."""
        if self.exit.handles(port):
            self.exit.code = value & 0xFF
            return "exit"
        if self.serial.handles(port):
            self.serial.write(port, value)
        elif self.pic.handles(port):
            self.pic.write(port, value)
            return "resample"
        elif self.timer.handles(port):
            self.timer.reprogram(value, now)
            return "resample"
        return None
