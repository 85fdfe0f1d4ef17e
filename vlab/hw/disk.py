"""An ATA (IDE) hard disk with the PIO register interface: the primary channel's command block
at ports 0x1F0-0x1F7, its control block at 0x3F6, IRQ 14 (through the slave 8259), one master
drive backed by a disk image. Written from ATA/ATAPI-6 (ANSI INCITS 361-2002: section 7 for the
registers, 8 for the commands, 9 for the PIO protocols), checked against Bochs's ATA controller
(tests/conformance).

What a guest can do with it, as on hardware:
* IDENTIFY DEVICE (0xEC): 256 words about the drive (PIO data-in: DRQ, then INTRQ);
* EXECUTE DEVICE DIAGNOSTIC (0x90): the diagnostic code and the ATA signature, INTRQ (8.11);
* READ SECTORS (0x20) and WRITE SECTORS (0x30) with 28-bit LBA addressing (device register
  bit 6), a sector count of 1-256 (0 means 256); data through the 16-bit data port (``insw`` or
  ``in ax, dx``), one 512-byte sector per DRQ block; INTRQ for each sector read and after each
  sector written (8.27, 8.62, 9.5, 9.6);
* errors as the status and error registers report them: an LBA past the end -> ERR with IDNF,
  a command the drive does not implement -> ERR with ABRT (each with INTRQ), CHS addressing
  (device register bit 6 clear) -> ABRT too (vlab's drive speaks LBA only);
* nIEN (device control bit 1) masks INTRQ; SRST (bit 2) resets the drive (BSY while it is held,
  then the signature: 9.2, 9.12); reading the Status
  register clears a pending INTRQ, reading Alternate Status (0x3F6) does not (7.2.4, 7.15);
* the slave (device register bit 4 set) is absent: its registers read 0 and it ignores commands.

Time: the drive is infinitely fast (a modelling choice, kept deterministic): a command's data is
ready, and its interrupt raised, the moment the command (or the last word of a sector) is
written. BSY is therefore never seen set.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from vlab.errors import VlabError

SECTOR = 512
DATA, ERROR, SECTOR_COUNT, LBA_LOW, LBA_MID, LBA_HIGH, DEVICE, COMMAND = range(0x1F0, 0x1F8)
FEATURES, STATUS = ERROR, COMMAND  # (the same ports, read vs written)
CONTROL = ALT_STATUS = 0x3F6
IRQ = 14  # the primary channel's line (slave 8259, line 6)
MAX_SECTORS = 1 << 28  # LBA28

# Status register bits (ATA/ATAPI-6, 7.15)
BSY, DRDY, DF, DSC, DRQ, ERR = 0x80, 0x40, 0x20, 0x10, 0x08, 0x01
# Error register bits (7.9)
IDNF, ABRT = 0x10, 0x04
# Device control bits (7.7)
NIEN, SRST = 0x02, 0x04
# Device register bits (7.8)
LBA_MODE, DEV = 0x40, 0x10

IDENTIFY, READ_SECTORS, WRITE_SECTORS, EXECUTE_DIAGNOSTIC = 0xEC, 0x20, 0x30, 0x90
COMMANDS = {IDENTIFY: "IDENTIFY DEVICE", READ_SECTORS: "READ SECTORS",
            WRITE_SECTORS: "WRITE SECTORS", EXECUTE_DIAGNOSTIC: "EXECUTE DEVICE DIAGNOSTIC"}
#: the drive's geometry as IDENTIFY reports it (words 1, 3, 6): 16 heads x 63 sectors a track
HEADS, SECTORS_PER_TRACK = 16, 63


def pattern(sectors: int) -> bytearray:
    """A disk image whose every byte tells where it is (so a read of the wrong sector shows):
    byte ``i`` of sector ``s`` is ``(s * 31 + i) & 0xFF`` with the sector's number in its first
    4 bytes."""
    out = bytearray(sectors * SECTOR)
    for s in range(sectors):
        base = s * SECTOR
        out[base:base + SECTOR] = bytes((s * 31 + i) & 0xFF for i in range(SECTOR))
        out[base:base + 4] = struct.pack("<I", s)
    return out


def image_from(source: bytes | bytearray | str | Path | int) -> bytearray:
    """A disk image from bytes, a file, or a number of sectors (filled with :func:`pattern`);
    :class:`VlabError` with the reason if it cannot be a disk."""
    if isinstance(source, bool):
        raise VlabError("disk: give an image (bytes or a file) or a number of sectors, not a bool")
    if isinstance(source, int):
        if not 1 <= source <= MAX_SECTORS:
            raise VlabError(f"disk: {source} sectors; a disk has 1 to {MAX_SECTORS:,} "
                            "(28-bit LBA)")
        return pattern(source)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise VlabError(f"disk: no disk image at {path}")
        data = bytearray(path.read_bytes())
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytearray(source)
    else:
        raise VlabError(f"disk: expected bytes, a file or a number of sectors, not "
                        f"{type(source).__name__}")
    if not data or len(data) % SECTOR:
        raise VlabError(f"disk: an image of {len(data):,} bytes; a disk image is a whole number "
                        f"of {SECTOR}-byte sectors (at least one)")
    if len(data) // SECTOR > MAX_SECTORS:
        raise VlabError(f"disk: {len(data) // SECTOR:,} sectors; 28-bit LBA reaches "
                        f"{MAX_SECTORS:,}")
    return data


@dataclass
class AtaDisk:
    """The primary ATA channel with one master drive (see the module's docstring)."""

    image: bytearray = field(default_factory=bytearray)
    features: int = 0
    count: int = 0  # sector count register
    lba_low: int = 0
    lba_mid: int = 0
    lba_high: int = 0
    device: int = 0xA0  # device register (obsolete bits 7 and 5 read as written)
    control: int = 0
    status: int = DRDY | DSC
    error: int = 1  # after reset: diagnostic code 01h, "no error" (9.12)
    intrq: bool = False  # the drive asserts its interrupt line
    command: int = 0  # the command in progress (0: none)
    buffer: bytearray = field(default_factory=bytearray)  # the DRQ block being transferred
    offset: int = 0  # bytes of it transferred
    lba: int = 0  # the sector the next DRQ block is for
    left: int = 0  # sectors still to transfer
    #: what happened, for the lab's views and tests (commands, sectors, interrupts, errors)
    stats: dict = field(default_factory=lambda: {"commands": 0, "sectors_read": 0,
                                                 "sectors_written": 0, "interrupts": 0,
                                                 "errors": 0, "port_accesses": 0})

    @property
    def sectors(self) -> int:
        return len(self.image) // SECTOR

    def handles(self, port: int) -> bool:
        return DATA <= port <= COMMAND or port == CONTROL

    # ------------------------------------------------------------------ the registers
    def read(self, port: int, size: int = 1) -> int:
        """IN from a register; ``size`` 2 or 4 on the data port moves that many bytes."""
        self.stats["port_accesses"] += 1
        if self._slave_selected() and port != DATA:
            return 0  # no device 1: its registers read 0 (7.1)
        if port == DATA:
            return self._read_data(size)
        if port == STATUS:
            self._set_intrq(False)  # reading Status acknowledges the interrupt (7.15)
            return self.status
        if port == ALT_STATUS:
            return self.status
        return {ERROR: self.error, SECTOR_COUNT: self.count, LBA_LOW: self.lba_low,
                LBA_MID: self.lba_mid, LBA_HIGH: self.lba_high, DEVICE: self.device}[port]

    def write(self, port: int, value: int, size: int = 1) -> None:
        self.stats["port_accesses"] += 1
        if port == DATA:
            self._write_data(value, size)
            return
        value &= 0xFF
        if port == CONTROL:
            if value & SRST and not self.control & SRST:
                self.reset()  # held: the drive is busy until the host clears SRST (9.2)
                self.status = BSY
            elif self.control & SRST and not value & SRST:
                self.status = DRDY | DSC
            self.control = value
            return
        if port == COMMAND:
            if not self._slave_selected():
                self._command(value)
            return
        setattr(self, {FEATURES: "features", SECTOR_COUNT: "count", LBA_LOW: "lba_low",
                       LBA_MID: "lba_mid", LBA_HIGH: "lba_high", DEVICE: "device"}[port], value)

    def reset(self) -> None:
        """Software reset (SRST): nothing in flight, the diagnostic code 01h in the Error
        register and the ATA signature in the command block: Sector Count 01h, LBA Low 01h, LBA
        Mid and High 00h, Device 00h, device 0 selected (9.12; the obsolete bits 7 and 5 of
        the Device register keep what was written)."""
        self._signature()
        self.status = DRDY | DSC
        self.command, self.buffer, self.offset, self.left = 0, bytearray(), 0, 0
        self._set_intrq(False)

    def _signature(self) -> None:
        self.count, self.lba_low, self.lba_mid, self.lba_high = 1, 1, 0, 0
        self.device &= 0xA0
        self.error = 1  # diagnostic code 01h: device 0 passed, device 1 not present (8.11)

    # ------------------------------------------------------------------ commands
    def _slave_selected(self) -> bool:
        return bool(self.device & DEV)

    def _command(self, command: int) -> None:
        self.stats["commands"] += 1
        self.command, self.buffer, self.offset, self.left = command, bytearray(), 0, 0
        self.error = 0
        if command == IDENTIFY:
            self._data_in(bytearray(self.identify_data()))
            return
        if command == EXECUTE_DIAGNOSTIC:  # the signature and the diagnostic code, INTRQ (8.11)
            self.command = 0
            self._signature()
            self.status = DRDY | DSC
            self._set_intrq(True)
            return
        if command not in (READ_SECTORS, WRITE_SECTORS) or not self.device & LBA_MODE:
            self._fail(ABRT)  # a command this drive does not implement, or CHS addressing
            return
        count = self.count or 256
        lba = ((self.device & 0x0F) << 24) | (self.lba_high << 16) | (self.lba_mid << 8) \
            | self.lba_low
        if lba + count > self.sectors:
            self._fail(IDNF)  # the address is past the last sector (8.27.6, 8.62.6)
            return
        self.lba, self.left = lba, count
        if command == READ_SECTORS:
            self._next_sector_in()
        else:  # the first block is requested at once, without an interrupt (9.6)
            self.status = DRDY | DSC | DRQ
            self.buffer = bytearray(SECTOR)

    def _fail(self, error: int) -> None:
        self.stats["errors"] += 1
        self.command, self.left = 0, 0
        self.error = error
        self.status = DRDY | DSC | ERR
        self._set_intrq(True)

    def _data_in(self, block: bytearray) -> None:
        """A DRQ block is ready for the host to read: DRQ set, INTRQ asserted (9.5)."""
        self.buffer, self.offset = block, 0
        self.status = DRDY | DSC | DRQ
        self._set_intrq(True)

    def _next_sector_in(self) -> None:
        start = self.lba * SECTOR
        self._data_in(bytearray(self.image[start:start + SECTOR]))
        self.stats["sectors_read"] += 1

    def _read_data(self, size: int) -> int:
        if not self.status & DRQ or self.command not in (IDENTIFY, READ_SECTORS):
            return 0  # no data phase: the data register reads nothing meaningful
        size = 2 if size == 1 else size  # (a byte read of a 16-bit register takes a word)
        chunk = bytes(self.buffer[self.offset:self.offset + size])
        self.offset += size
        if self.offset >= len(self.buffer):
            self._block_read()
        return int.from_bytes(chunk.ljust(size, b"\0"), "little")

    def _block_read(self) -> None:
        if self.command == READ_SECTORS:
            self.lba += 1
            self.left -= 1
            if self.left:
                self._next_sector_in()
                return
        self.status, self.command, self.buffer = DRDY | DSC, 0, bytearray()

    def _write_data(self, value: int, size: int) -> None:
        if not self.status & DRQ or self.command != WRITE_SECTORS:
            return  # no data-out phase: the word goes nowhere
        size = 2 if size == 1 else size
        self.buffer[self.offset:self.offset + size] = (value & ((1 << 8 * size) - 1)).to_bytes(
            size, "little")
        self.offset += size
        if self.offset >= SECTOR:
            start = self.lba * SECTOR
            self.image[start:start + SECTOR] = self.buffer[:SECTOR]
            self.stats["sectors_written"] += 1
            self.lba += 1
            self.left -= 1
            self.offset = 0
            if self.left:  # the next block: DRQ and INTRQ (9.6)
                self.buffer = bytearray(SECTOR)
                self.status = DRDY | DSC | DRQ
            else:  # the command is complete: INTRQ with DRQ clear
                self.status, self.command, self.buffer = DRDY | DSC, 0, bytearray()
            self._set_intrq(True)

    def _set_intrq(self, on: bool) -> None:
        if on and not self.control & NIEN:
            self.stats["interrupts"] += 1
            self.intrq = True
        elif not on:
            self.intrq = False

    # ------------------------------------------------------------------ IDENTIFY
    def identify_data(self) -> bytes:
        """The 256 words IDENTIFY DEVICE returns (ATA/ATAPI-6, 8.15, table 27): a fixed,
        non-removable ATA device; its CHS geometry (16 heads, 63 sectors a track); serial number,
        firmware revision and model as space-padded ASCII with the bytes of each word swapped;
        LBA supported; words 60-61 the number of addressable sectors."""
        words = [0] * 256
        cylinders = min(16383, max(1, self.sectors // (HEADS * SECTORS_PER_TRACK)))
        words[0] = 0x0040  # fixed device, not removable
        words[1], words[3], words[6] = cylinders, HEADS, SECTORS_PER_TRACK
        _ascii(words, 10, 20, "VLAB00000001")
        _ascii(words, 23, 8, "1.0")
        _ascii(words, 27, 40, "VLAB TEACHING DISK")
        words[47] = 0x8001  # READ/WRITE MULTIPLE: at most 1 sector a block
        words[49] = 1 << 9  # LBA supported
        words[53] = 1  # words 54-58 are valid
        words[54], words[55], words[56] = cylinders, HEADS, SECTORS_PER_TRACK
        chs = cylinders * HEADS * SECTORS_PER_TRACK
        words[57], words[58] = chs & 0xFFFF, chs >> 16
        words[60], words[61] = self.sectors & 0xFFFF, self.sectors >> 16
        words[80] = 1 << 6  # ATA/ATAPI-6
        return struct.pack("<256H", *words)


def _ascii(words: list[int], first: int, length: int, text: str) -> None:
    """An IDENTIFY string: ``length`` bytes from word ``first``, space-padded, two characters a
    word with the first in the high byte (ATA/ATAPI-6, 8.15.8)."""
    data = text.ljust(length).encode("ascii")
    for i in range(length // 2):
        words[first + i] = (data[2 * i] << 8) | data[2 * i + 1]
