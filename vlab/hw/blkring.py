"""A paravirtual block device: one virtio-style split virtqueue in guest memory, virtio-blk
requests, the same disk image as the ATA channel (:mod:`vlab.hw.disk`), so both drivers see one
disk. Written from the virtio 1.1 specification (OASIS, 2019): section 2.1 (device status),
2.6 (split virtqueues), 4.1.4 (the PCI transport's registers), 5.2 (the block device).

Why it is cheap to virtualize: the emulated disk needs a port access per 16-bit word, and under
full virtualization each is a monitor entry. Here the driver writes its requests into memory the
device reads directly (as DMA), makes a whole batch available, and tells the device once: one
notification per batch; the device answers with one interrupt per completed batch.

The ring (the driver allocates it in guest-physical memory; the device is told where):

* descriptor table, 16-byte aligned, ``size`` entries of {u64 addr, u32 len, u16 flags, u16 next}
  (2.6.5); flags NEXT (1: the chain goes on at ``next``) and WRITE (2: the device writes the
  buffer, else it reads it);
* available ring, 2-byte aligned: {u16 flags, u16 idx, u16 ring[size]} (2.6.6): the driver puts a
  chain's first descriptor in ``ring[idx % size]``, then increments ``idx``; flag 1
  (NO_INTERRUPT) asks the device not to interrupt;
* used ring, 4-byte aligned: {u16 flags, u16 idx, {u32 id, u32 len} ring[size]} (2.6.8): the
  device returns each chain's head ``id`` with ``len``, the bytes it wrote into the chain, then
  increments ``idx``.

``size`` is a power of two from 1 to 256. A request (5.2.6) is a chain of: a device-readable
header {u32 type, u32 reserved, u64 sector}; the data buffers (device-writable for IN, readable
for OUT), a whole number of 512-byte sectors; and the status byte, the last byte of the last
descriptor, device-writable: 0 OK, 1 IOERR, 2 UNSUPP. Types: IN 0 (read), OUT 1 (write),
FLUSH 4 (nothing to do: the image is written through), GET_ID 8 (a 20-byte ID string). vlab
negotiates no feature bits (no indirect descriptors, no event index), so the driver frames
requests as a legacy driver does: header, data, status, each in descriptors of its own (5.2.6.3).

A hostile ring never crashes the device: a request whose chain loops (so runs longer than the
table), names a descriptor beyond the table, points outside guest RAM, has a malformed header or
reaches past the disk's end is completed with IOERR (UNSUPP for an unknown type). Its status goes
where the device can find it: the last byte of the last descriptor it reached, if that one is
device-writable and in RAM (a chain whose status descriptor links back or off the table still
gets it there); otherwise no status is written and the used element's ``len`` (the bytes written)
says so. Only an available index that runs more than ``size`` entries ahead of the device is
beyond repair: the device stops, sets DEVICE_NEEDS_RESET in its status and sends a
configuration-change interrupt (2.1.2), and :meth:`BlockRing.failure` says what happened.

How a driver reaches it: a paravirtual kernel through hypercalls
(:mod:`vlab.strategies.paravirt.hypercalls`: ``blkring_op`` to set it up, Xen's
``event_channel_op(EVTCHNOP_send)`` to notify); an unmodified kernel with this driver (a "PV
driver in an HVM guest") through the I/O ports below, in the manner of virtio-pci's common
configuration and notify registers (4.1.4.3-4.1.4.5), and IRQ 11 through the slave 8259.

Time: the device is infinitely fast, as the ATA drive is: a batch completes, and its interrupt is
raised, the moment it is notified.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from vlab.errors import VlabError

SECTOR = 512
MAX_SIZE = 256  # the largest queue this device offers (QUEUE_SIZE reads it)

# The I/O window (the PV-on-HVM transport): where a PCI BIOS would put a virtio-pci device's
# I/O BAR. Each register is 32 bits wide, at a 4-byte offset; any access size reaches it.
PORT_BASE = 0xC000
QUEUE_DESC = PORT_BASE + 0x00  # w: descriptor table address (virtio-pci queue_desc, 4.1.4.3)
QUEUE_DRIVER = PORT_BASE + 0x04  # w: available ring address (queue_driver)
QUEUE_DEVICE = PORT_BASE + 0x08  # w: used ring address (queue_device)
QUEUE_SIZE = PORT_BASE + 0x0C  # r: the largest size (256); w: the size (queue_size)
DEVICE_STATUS = PORT_BASE + 0x10  # r/w: device status (2.1); 0 resets; DRIVER_OK goes live
QUEUE_NOTIFY = PORT_BASE + 0x14  # w: "queue 0 has new available entries" (4.1.4.4)
ISR_STATUS = PORT_BASE + 0x18  # r: interrupt cause, cleared by the read (4.1.4.5)
CAPACITY = PORT_BASE + 0x1C  # r: the disk's size in 512-byte sectors (virtio-blk config, 5.2.4)
PORT_END = PORT_BASE + 0x20
IRQ = 11  # the slave 8259's line 3 (vector 0x2B), a line PC chipsets route PCI interrupts to

# Descriptor and ring flags (2.6.5, 2.6.6)
VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, VIRTQ_DESC_F_INDIRECT = 1, 2, 4
VIRTQ_AVAIL_F_NO_INTERRUPT = 1
# Device status bits (2.1)
ACKNOWLEDGE, DRIVER, DRIVER_OK, FEATURES_OK = 1, 2, 4, 8
DEVICE_NEEDS_RESET, FAILED = 64, 128
# ISR status bits (4.1.4.5)
ISR_QUEUE, ISR_CONFIG = 1, 2
# virtio-blk request types and status values (5.2.6)
VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID = 0, 1, 4, 8
VIRTIO_BLK_S_OK, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_UNSUPP = 0, 1, 2
VIRTIO_BLK_ID_BYTES = 20
DISK_ID = b"VLAB TEACHING DISK"

_DESC = struct.Struct("<QIHH")  # one descriptor (2.6.5)
_HEADER = struct.Struct("<IIQ")  # struct virtio_blk_req's header (5.2.6)


class RingError(VlabError):
    """The block ring cannot be used as given (a bad set-up), or the device stopped (it needs a
    reset); the message says which field, what was wrong and where the rule comes from."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.field = field  # "size", "alignment", "outside" or "runaway"


def _area_sizes(size: int) -> dict[str, int]:
    """Bytes of each part of a queue of ``size`` entries (2.6: the optional event words of the
    rings included, so a driver that reserves them is always inside)."""
    return {"descriptor table": 16 * size, "available ring": 6 + 2 * size,
            "used ring": 6 + 8 * size}


def check_layout(desc: int, avail: int, used: int, size: int, ram_size: int) -> None:
    """:class:`RingError` unless a queue of ``size`` entries at these guest-physical addresses is
    one this device can use: a power of two from 1 to 256 entries, each part aligned as 2.6
    requires (16, 2, 4 bytes) and wholly inside guest RAM."""
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_SIZE \
            or size & (size - 1):
        raise RingError(f"block ring: a queue of {size} entries; the size must be a power of two "
                        f"from 1 to {MAX_SIZE} (virtio 1.1, 2.6)", "size")
    parts = _area_sizes(size)
    for (name, length), address, align in zip(parts.items(), (desc, avail, used), (16, 2, 4),
                                              strict=True):
        if not isinstance(address, int) or address < 0 or address + length > ram_size:
            shown = f"{address:#010x}" if isinstance(address, int) else repr(address)
            raise RingError(f"block ring: the {name} ({length} bytes at {shown}) is not inside "
                            f"guest RAM ({ram_size:#x} bytes)", "outside")
        if address % align:
            raise RingError(f"block ring: the {name} at {address:#010x} is not {align}-byte "
                            "aligned (virtio 1.1, 2.6, table 'Virtqueue Part Alignment')",
                            "alignment")


@dataclass
class BlockRing:
    """The device: its registers, where it is in the queue, and what it has done. Plain data (a
    snapshot copies it); guest RAM and the disk image are handed to each call that needs them."""

    desc: int = 0  # the queue's parts as the driver gave them (guest-physical)
    avail: int = 0
    used: int = 0
    size: int = 0
    status: int = 0  # device status (2.1)
    isr: int = 0  # interrupt causes not yet read (4.1.4.5); the line is up while nonzero
    last_avail: int = 0  # the next available entry the device will take (a u16 index)
    used_idx: int = 0  # the used ring's idx as the device last wrote it
    error: str = ""  # why the device stopped (DEVICE_NEEDS_RESET), or why DRIVER_OK was refused
    error_field: str = ""  # RingError.field of that error
    last_problem: str = ""  # what was wrong with the last request that did not complete OK
    #: guest-physical ranges [start, end) the device wrote data into since the machine last
    #: looked (code translated from there is stale: the CPU never saw these stores)
    dma_writes: list = field(default_factory=list)
    #: what happened, for the lab's views and tests
    stats: dict = field(default_factory=lambda: {
        "notifications": 0, "ignored_notifications": 0, "requests": 0, "sectors_read": 0,
        "sectors_written": 0, "interrupts": 0, "errors": 0, "port_accesses": 0})

    # ------------------------------------------------------------------ state
    @property
    def live(self) -> bool:
        """Does the device process notifications (DRIVER_OK set, no reset needed)?"""
        return bool(self.status & DRIVER_OK) and not self.status & DEVICE_NEEDS_RESET

    @property
    def line(self) -> bool:
        """The device's interrupt line (up while an interrupt cause is unread)."""
        return self.isr != 0

    def failure(self) -> RingError | None:
        """Why the device needs a reset (or refused its set-up), as an error to show or raise;
        None if it is well."""
        return RingError(self.error, self.error_field) if self.error else None

    def reset(self) -> None:
        """Device reset (a 0 written to the device status, 2.1; 4.1.4.3): forget the queue."""
        self.desc = self.avail = self.used = self.size = 0
        self.status = self.isr = self.last_avail = self.used_idx = 0
        self.error = self.error_field = ""

    def configure(self, desc: int, avail: int, used: int, size: int, ram_size: int) -> None:
        """Set the queue up and go live (what a paravirtual kernel's set-up hypercall does);
        :class:`RingError` if the layout cannot be used (see :func:`check_layout`)."""
        check_layout(desc, avail, used, size, ram_size)
        self.reset()
        self.desc, self.avail, self.used, self.size = desc, avail, used, size
        self.status = ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK

    # ------------------------------------------------------------------ the registers
    def handles(self, port: int) -> bool:
        return PORT_BASE <= port < PORT_END

    def read(self, port: int, size: int, capacity: int) -> int:
        """IN from a register (``capacity``: the disk's size in sectors)."""
        self.stats["port_accesses"] += 1
        reg = (port - PORT_BASE) & ~3
        if reg == ISR_STATUS - PORT_BASE:
            return self.acknowledge()
        value = {QUEUE_DESC: self.desc, QUEUE_DRIVER: self.avail, QUEUE_DEVICE: self.used,
                 QUEUE_SIZE: self.size if self.status & DRIVER_OK else MAX_SIZE,
                 DEVICE_STATUS: self.status, CAPACITY: capacity}.get(PORT_BASE + reg, 0)
        return (value >> 8 * (port & 3)) & ((1 << 8 * size) - 1)

    def write(self, port: int, value: int, ram: memoryview | bytearray, image: bytearray) -> None:
        """OUT to a register. A write to QUEUE_NOTIFY runs the available requests (``ram`` is
        guest RAM as the device's DMA sees it, ``image`` the disk)."""
        self.stats["port_accesses"] += 1
        value &= 0xFFFF_FFFF
        if port == QUEUE_NOTIFY:
            if value & 0xFFFF == 0:  # (the queue's index: this device has queue 0 only)
                self.notify(ram, image)
            else:
                self.stats["ignored_notifications"] += 1
        elif port == DEVICE_STATUS:
            self._write_status(value & 0xFF, len(ram))
        elif not self.status & DRIVER_OK:  # the queue's registers are fixed once it is live
            if port == QUEUE_DESC:
                self.desc = value
            elif port == QUEUE_DRIVER:
                self.avail = value
            elif port == QUEUE_DEVICE:
                self.used = value
            elif port == QUEUE_SIZE:
                self.size = value

    def _write_status(self, value: int, ram_size: int) -> None:
        if value == 0:
            self.reset()
            return
        if value & DRIVER_OK and not self.status & DRIVER_OK:
            try:  # the driver says the queue is ready: the device checks it now
                check_layout(self.desc, self.avail, self.used, self.size, ram_size)
            except RingError as e:
                self.error, self.error_field = str(e), e.field
                self.stats["errors"] += 1
                self.status = (value & ~DRIVER_OK) | DEVICE_NEEDS_RESET
                return
            self.last_avail = self.used_idx = 0
            self.error = self.error_field = ""
        self.status = value | (self.status & DEVICE_NEEDS_RESET)

    def acknowledge(self) -> int:
        """Read the ISR status (4.1.4.5): the causes, cleared by reading; the line drops."""
        value, self.isr = self.isr, 0
        return value

    # ------------------------------------------------------------------ the queue
    def notify(self, ram: memoryview | bytearray, image: bytearray) -> None:
        """The driver's notification: take every new available chain, serve it, return it in the
        used ring, and interrupt once for them all (2.6.7, 2.6.8, 2.6.10)."""
        self.stats["notifications"] += 1
        if not self.live:  # not set up, or stopped: the notification reaches nobody
            self.stats["ignored_notifications"] += 1
            return
        flags, idx = struct.unpack_from("<HH", ram, self.avail)
        new = (idx - self.last_avail) & 0xFFFF
        if new > self.size:
            self._stop(f"block ring: the available index ({idx}) ran {new} entries ahead of the "
                       f"device ({self.last_avail}), but the queue holds {self.size}: the driver "
                       "overwrote requests the device had not taken. The device stopped and needs "
                       "a reset (virtio 1.1, 2.1.2 DEVICE_NEEDS_RESET; 2.6.6)")
            return
        for _ in range(new):
            head = struct.unpack_from("<H", ram, self.avail + 4 + 2 * (self.last_avail % self.size))[0]
            written = self._serve(ram, image, head)
            # the element first, then idx: a driver that sees idx move sees the element (2.6.8.2)
            struct.pack_into("<II", ram, self.used + 4 + 8 * (self.used_idx % self.size), head,
                             written)
            self.used_idx = (self.used_idx + 1) & 0xFFFF
            struct.pack_into("<H", ram, self.used + 2, self.used_idx)
            self.last_avail = (self.last_avail + 1) & 0xFFFF
        if new and not flags & VIRTQ_AVAIL_F_NO_INTERRUPT:
            self._interrupt(ISR_QUEUE)

    def _stop(self, message: str) -> None:
        self.error, self.error_field = message, "runaway"
        self.stats["errors"] += 1
        self.status |= DEVICE_NEEDS_RESET
        self._interrupt(ISR_CONFIG)  # DRIVER_OK was set: tell the driver (2.1.2)

    def interrupt_queue(self) -> None:
        """Interrupt for used buffers (a back end outside this class served the queue)."""
        self._interrupt(ISR_QUEUE)

    def _interrupt(self, cause: int) -> None:
        self.isr |= cause
        self.stats["interrupts"] += 1

    def _chain(self, ram: memoryview | bytearray, head: int
               ) -> tuple[list[tuple[int, int, int]], str]:
        """The descriptors (addr, len, flags) of the chain at ``head``, as far as it can be
        followed, and what stopped it early ("" if it ended properly)."""
        chain: list[tuple[int, int, int]] = []
        seen: set[int] = set()
        problem = ""
        i = head
        while True:
            if i >= self.size:
                return chain, f"descriptor {i} is beyond the table of {self.size}"
            if i in seen:  # (so no chain is longer than the table, 2.6.5.3.1)
                return chain, f"the chain loops back to descriptor {i}"
            seen.add(i)
            addr, length, flags, nxt = _DESC.unpack_from(ram, self.desc + 16 * i)
            chain.append((addr, length, flags))
            if flags & VIRTQ_DESC_F_INDIRECT and not problem:  # (followed on: the status is
                problem = (f"descriptor {i} is indirect, a feature this device does not offer "
                           "(VIRTIO_F_INDIRECT_DESC, 2.6.5.3)")  # at the chain's end)
            if not flags & VIRTQ_DESC_F_NEXT:
                return chain, problem
            i = nxt

    def _serve(self, ram: memoryview | bytearray, image: bytearray, head: int) -> int:
        """One request: run it and write its status. Returns the bytes written into the chain
        (the used element's ``len``)."""
        self.stats["requests"] += 1
        chain, problem = self._chain(ram, head)
        limit = len(ram)
        outside = next((f"a descriptor ({a:#x}, {n} bytes) lies outside guest RAM"
                        for a, n, _ in chain if a + n > limit), "")
        problem = problem or outside
        status_at = None  # the status: the last byte of the last descriptor, if the device may
        if chain:         # write it
            addr, length, flags = chain[-1]
            if flags & VIRTQ_DESC_F_WRITE and length >= 1 and addr + length <= limit:
                status_at = addr + length - 1
        if status_at is None and not problem:
            problem = "the chain does not end in a device-writable status byte (5.2.6)"
        status, written = VIRTIO_BLK_S_IOERR, 0
        if not problem:
            status, written, problem = self._execute(ram, image, chain)
        if status != VIRTIO_BLK_S_OK:
            self.stats["errors"] += 1
            self.last_problem = f"request at descriptor {head}: {problem}"
        if status_at is not None:
            ram[status_at] = status
            written += 1
        return written

    def _execute(self, ram: memoryview | bytearray, image: bytearray,
                 chain: list[tuple[int, int, int]]) -> tuple[int, int, str]:
        """(status, data bytes written, problem) for a chain that lies wholly in guest RAM."""
        if len(chain) < 2:
            return VIRTIO_BLK_S_IOERR, 0, "a request needs a header and a status descriptor"
        (h_addr, h_len, h_flags), data = chain[0], chain[1:-1]
        if h_flags & VIRTQ_DESC_F_WRITE or h_len < _HEADER.size:
            return VIRTIO_BLK_S_IOERR, 0, ("malformed header: it must be a device-readable "
                                           f"descriptor of {_HEADER.size} bytes (5.2.6)")
        kind, _, sector = _HEADER.unpack_from(ram, h_addr)
        if kind == VIRTIO_BLK_T_FLUSH:
            return VIRTIO_BLK_S_OK, 0, ""
        if kind == VIRTIO_BLK_T_GET_ID:
            if len(data) != 1 or not data[0][2] & VIRTQ_DESC_F_WRITE:
                return VIRTIO_BLK_S_IOERR, 0, "GET_ID needs one device-writable buffer"
            addr, length, _ = data[0]
            ident = DISK_ID.ljust(VIRTIO_BLK_ID_BYTES, b"\0")[:min(length, VIRTIO_BLK_ID_BYTES)]
            ram[addr:addr + len(ident)] = ident
            return VIRTIO_BLK_S_OK, len(ident), ""
        if kind not in (VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT):
            return VIRTIO_BLK_S_UNSUPP, 0, f"request type {kind} is not supported"
        device_writes = kind == VIRTIO_BLK_T_IN
        if any(bool(f & VIRTQ_DESC_F_WRITE) != device_writes for _, _, f in data):
            return VIRTIO_BLK_S_IOERR, 0, ("a data buffer of the wrong direction (an IN request's "
                                           "are device-writable, an OUT request's readable)")
        total = sum(n for _, n, _ in data)
        sectors = len(image) // SECTOR
        if total % SECTOR:
            return VIRTIO_BLK_S_IOERR, 0, f"{total} data bytes: not a whole number of sectors"
        if sector + total // SECTOR > sectors:
            return VIRTIO_BLK_S_IOERR, 0, (f"sectors {sector}-{sector + total // SECTOR - 1} "
                                           f"reach past the disk's end ({sectors} sectors)")
        offset = sector * SECTOR
        for addr, length, _ in data:
            if device_writes:
                ram[addr:addr + length] = image[offset:offset + length]
                self.dma_writes.append((addr, addr + length))
            else:
                image[offset:offset + length] = ram[addr:addr + length]
            offset += length
        self.stats["sectors_read" if device_writes else "sectors_written"] += total // SECTOR
        return VIRTIO_BLK_S_OK, total if device_writes else 0, ""
