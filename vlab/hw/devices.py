"""The guest's devices: a 16550-style serial port (the console), a pair of cascaded 8259-style
interrupt controllers, a deterministic timer, an exit device and, when the machine has one, an
ATA disk (:mod:`vlab.hw.disk`) with, on the same disk image, a paravirtual block ring
(:mod:`vlab.hw.blkring`).

Devices know nothing of Unicorn: the machine routes port I/O to them. Their state is plain data so
that a snapshot can copy it and a restore can put it back.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

from vlab.hw.blkring import IRQ as RING_IRQ
from vlab.hw.blkring import BlockRing
from vlab.hw.disk import IRQ as DISK_IRQ
from vlab.hw.disk import AtaDisk

SERIAL_PORT = 0x3F8
PIC_COMMAND, PIC_DATA = 0x20, 0x21
SLAVE_COMMAND, SLAVE_DATA = 0xA0, 0xA1
SLAVE_VECTOR = 0x28  # IRQ 8-15
CASCADE_LINE = 2
TIMER_PORT = 0x40
EXIT_PORT = 0xF4
TIMER_VECTOR = 0x20  # IRQ0 after the kernel's PIC remap convention (vector 0x20)
EOI = 0x20
RING_VECTOR = SLAVE_VECTOR + RING_IRQ - 8  # the block ring's interrupt (IRQ 11): 0x2B


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
class Pic8259:
    """One 8259: a mask (all lines masked at boot), a request and an in-service bit per line,
    and non-specific EOI (``out command, 0x20``). Vectors are fixed at the kernels' convention
    (the master at 0x20, the slave at 0x28: no ICW programming)."""

    command_port: int = PIC_COMMAND
    vector_base: int = TIMER_VECTOR
    mask: int = 0xFF
    irr: int = 0  # requested, not yet delivered
    isr: int = 0  # delivered, waiting for EOI

    def handles(self, port: int) -> bool:
        return port in (self.command_port, self.command_port + 1)

    def read(self, port: int) -> int:
        return self.mask if port == self.command_port + 1 else self.irr

    def write(self, port: int, value: int) -> None:
        if port == self.command_port + 1:
            self.mask = value & 0xFF
        elif value & 0x20:  # non-specific EOI: clear the highest-priority in-service line
            if self.isr:
                self.isr &= self.isr - 1

    def ready(self) -> int:
        """Lines it would signal now: requested and unmasked, none in service (vlab's 8259s do
        not nest interrupts)."""
        return 0 if self.isr else self.irr & ~self.mask & 0xFF


@dataclass
class Pic(Pic8259):
    """The master 8259 with the slave cascaded on its line 2 (IRQ 8-15 at vectors 0x28-0x2F,
    ports 0xA0/0xA1), as in the PC/AT. The master's IRR bit 2 follows the slave's output: set
    while the slave has a line to signal. A handler of a slave interrupt sends EOI to both."""

    slave: Pic8259 = field(default_factory=lambda: Pic8259(SLAVE_COMMAND, SLAVE_VECTOR))

    def handles(self, port: int) -> bool:
        return super().handles(port) or self.slave.handles(port)

    def read(self, port: int) -> int:
        return self.slave.read(port) if self.slave.handles(port) else super().read(port)

    def write(self, port: int, value: int) -> None:
        if self.slave.handles(port):
            self.slave.write(port, value)
        else:
            super().write(port, value)
        self._cascade()

    def raise_irq(self, line: int) -> None:
        if line >= 8:
            self.slave.irr |= 1 << (line - 8)
        else:
            self.irr |= 1 << line
        self._cascade()

    def lower_irq(self, line: int) -> None:
        """A level-triggered line dropped before the CPU took its interrupt (an ATA drive's
        INTRQ once its status is read): the request is gone."""
        if line >= 8:
            self.slave.irr &= ~(1 << (line - 8))
        else:
            self.irr &= ~(1 << line)
        self._cascade()

    def _cascade(self) -> None:
        if self.slave.ready():
            self.irr |= 1 << CASCADE_LINE
        else:
            self.irr &= ~(1 << CASCADE_LINE)

    def pending_vector(self) -> int | None:
        """The vector the PICs would present now, or None (masked, nothing pending, or busy)."""
        ready = self.ready()
        if not ready:
            return None
        line = (ready & -ready).bit_length() - 1
        if line == CASCADE_LINE:
            inner = self.slave.ready()
            if not inner:
                return None
            return self.slave.vector_base + (inner & -inner).bit_length() - 1
        return self.vector_base + line

    def acknowledge(self, vector: int) -> None:
        slave = self.slave
        if slave.vector_base <= vector < slave.vector_base + 8:
            bit = 1 << (vector - slave.vector_base)
            slave.irr &= ~bit
            slave.isr |= bit
            vector = self.vector_base + CASCADE_LINE
        bit = 1 << (vector - self.vector_base)
        self.irr &= ~bit
        self.isr |= bit

    def withdraw(self, vector: int) -> None:
        """Undo :meth:`acknowledge`: the interrupt was not taken after all (a hypervisor found
        its guest unable to take it), so its request is pending again (merged with a newer
        request of the same line, as an 8259's IRR does)."""
        slave = self.slave
        if slave.vector_base <= vector < slave.vector_base + 8:
            bit = 1 << (vector - slave.vector_base)
            slave.isr &= ~bit
            slave.irr |= bit
            self.isr &= ~(1 << CASCADE_LINE)
            self._cascade()
            return
        bit = 1 << (vector - self.vector_base)
        self.isr &= ~bit
        self.irr |= bit

    def in_service(self) -> list[int]:
        """IRQ lines in service (delivered, waiting for EOI), the slave's as 8-15."""
        return [line for line in range(8) if self.isr >> line & 1 and line != CASCADE_LINE] + \
            [8 + line for line in range(8) if self.slave.isr >> line & 1]

    def requested(self) -> list[int]:
        """IRQ lines requested and not yet delivered, masked or not, the slave's as 8-15."""
        return [line for line in range(8) if self.irr >> line & 1 and line != CASCADE_LINE] + \
            [8 + line for line in range(8) if self.slave.irr >> line & 1]


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
    """All devices of one machine; copied whole by snapshots. The disk and its block ring are
    there only when the machine was given a disk (else their ports float, as an empty channel's
    do). ``ram`` is guest RAM as the block ring's DMA reaches it: the machine's own buffer, which
    a snapshot does not copy."""

    serial: SerialPort = field(default_factory=SerialPort)
    pic: Pic = field(default_factory=Pic)
    timer: Timer = field(default_factory=Timer)
    exit: ExitDevice = field(default_factory=ExitDevice)
    disk: AtaDisk | None = None
    disk_line: bool = False  # the disk's INTRQ as the PIC last saw it (IRQ 14)
    raised_by_read: bool = False  # the last IN made a device request an interrupt
    #: an INS iteration the core will run again, and the value it read (vlab.hw.hooks._in):
    #: ((EIP, ECX, EDI, port), value); kept here so that a snapshot carries it
    replay_in: tuple[tuple[int, ...], int] | None = None
    blkring: BlockRing | None = None
    ring_line: bool = False  # the block ring's interrupt line as the PIC last saw it (IRQ 11)
    ram: memoryview | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.disk is not None and self.blkring is None:
            self.blkring = BlockRing()

    def copy(self) -> Devices:
        return copy.deepcopy(self, {id(self.ram): self.ram})  # (the RAM is the machine's)

    def read(self, port: int, size: int = 1) -> int:
        """IN from ``port``: the device that decodes it answers; nothing there reads all ones
        (the bus floats high)."""
        if self.disk is not None and self.disk.handles(port):
            value = self.disk.read(port, size)
            self.raised_by_read = self._disk_interrupt()  # (a data read that ends a block)
            return value
        if self.blkring is not None and self.blkring.handles(port):
            value = self.blkring.read(port, size, self.disk.sectors)
            self._ring_interrupt()  # (reading the ISR drops the line)
            return value
        for device in (self.serial, self.pic, self.timer):
            if device.handles(port):
                return device.read(port)
        return 0xFFFF_FFFF

    def write(self, port: int, value: int, now: Callable[[], int], size: int = 1) -> str | None:
        """OUT to ``port`` at virtual time ``now()`` (asked only by a device that needs it: the
        timer when reprogrammed). Returns what the machine must do next:
        "exit" (the exit device was written), "resample" (what may interrupt changed: a PIC mask
        or EOI, a new timer period, a device's interrupt), or None."""
        if self.exit.handles(port):
            self.exit.code = value & 0xFF
            return "exit"
        if self.disk is not None and self.disk.handles(port):
            self.disk.write(port, value, size)
            return "resample" if self._disk_interrupt() else None
        if self.blkring is not None and self.blkring.handles(port):
            self.blkring.write(port, value, self._dma(), self.disk.image)
            return "resample" if self._ring_interrupt() else None
        if self.serial.handles(port):
            self.serial.write(port, value)
        elif self.pic.handles(port):
            self.pic.write(port, value)
            # an EOI changes what may interrupt only if some request waits (else the next one
            # comes from the timer, at a deadline, or a device, which says so itself)
            eoi = port in (PIC_COMMAND, SLAVE_COMMAND) and value & 0x20
            return "resample" if not eoi or self.pic.irr or self.pic.slave.irr else None
        elif self.timer.handles(port):
            self.timer.reprogram(value, now())
            return "resample"
        return None

    def _disk_interrupt(self) -> bool:
        """Follow the disk's INTRQ at the PIC (IRQ 14); True if a new request was made."""
        return self._follow_line("disk_line", self.disk.intrq, DISK_IRQ)

    def _follow_line(self, seen: str, level: bool, irq: int) -> bool:
        """Follow a device's interrupt line at the PIC (``seen``: the attribute holding the
        level the PIC last saw): a rising edge requests ``irq`` (the PC/AT's 8259s are
        edge-triggered); the line dropping before the CPU took the interrupt withdraws the
        request. True if a new request was made."""
        if level == getattr(self, seen):
            return False
        setattr(self, seen, level)
        if level:
            self.pic.raise_irq(irq)
            return True
        self.pic.lower_irq(irq)
        return False

    # ------------------------------------------------------------------ the block ring
    def notify_ring(self) -> bool:
        """The driver's notification, passed on by a hypervisor (a paravirtual kernel has no
        ports): the ring runs its available requests. True if it requested an interrupt."""
        self.blkring.notify(self._dma(), self.disk.image)
        return self._ring_interrupt()

    def take_dma_writes(self) -> list[tuple[int, int]]:
        """The guest-physical ranges a device wrote into since the last call (and forget them)."""
        if self.blkring is None or not self.blkring.dma_writes:
            return []
        ranges, self.blkring.dma_writes = self.blkring.dma_writes, []
        return ranges

    def complete_ring(self) -> None:
        """A back end outside the device (a student's) finished a batch: the queue interrupt,
        as the device's own notify gives it (virtio 1.1, 2.6.10)."""
        self.blkring.interrupt_queue()
        self._ring_interrupt()

    def acknowledge_ring(self) -> int:
        """Read the ring's ISR status on the driver's behalf (its line drops); the causes."""
        value = self.blkring.acknowledge()
        self._ring_interrupt()
        return value

    def _dma(self) -> memoryview | bytearray:
        return self.ram if self.ram is not None else bytearray()

    def _ring_interrupt(self) -> bool:
        """Follow the ring's interrupt line at the PIC (IRQ 11); True if a new request was made."""
        return self._follow_line("ring_line", self.blkring.line, RING_IRQ)
