"""The ATA disk (vlab/hw/disk.py), the cascaded 8259s, and the disk workload under every
full-virtualization strategy. Expected register values come from ATA/ATAPI-6 (ANSI INCITS
361-2002; sections cited per test); Bochs's ATA controller confirms them in tests/conformance."""

from __future__ import annotations

import struct

import pytest

from vlab.errors import VlabError
from vlab.hw import disk as ata
from vlab.hw.devices import Devices, Pic
from vlab.isa import assemble
from vlab.lab import Lab

FULL = ("native", "trap_emulate", "binary_translation", "vtx")


def _drive(sectors: int = 8) -> ata.AtaDisk:
    return ata.AtaDisk(ata.pattern(sectors))


def _command(d: ata.AtaDisk, command: int, lba: int = 0, count: int = 1,
             device: int = 0xE0) -> None:
    for port, value in ((ata.SECTOR_COUNT, count), (ata.LBA_LOW, lba & 0xFF),
                        (ata.LBA_MID, lba >> 8 & 0xFF), (ata.LBA_HIGH, lba >> 16 & 0xFF),
                        (ata.DEVICE, device | (lba >> 24 & 0x0F))):
        d.write(port, value)
    d.write(ata.COMMAND, command)


def _read_block(d: ata.AtaDisk) -> bytes:
    return b"".join(struct.pack("<H", d.read(ata.DATA, 2)) for _ in range(256))


# ---------------------------------------------------------------------------- the drive
def test_identify_reports_the_size_lba_and_strings_as_ata6_8_15_says():
    d = _drive(100)
    _command(d, ata.IDENTIFY)
    assert d.status & ata.DRQ and not d.status & ata.BSY and d.intrq  # PIO data-in (9.5)
    words = struct.unpack("<256H", _read_block(d))
    assert words[60] | words[61] << 16 == 100  # user-addressable sectors (LBA28)
    assert words[49] & (1 << 9)  # LBA supported
    model = b"".join(struct.pack(">H", w) for w in words[27:47]).decode().rstrip()
    assert model == "VLAB TEACHING DISK"  # two characters a word, first in the high byte
    assert not d.status & ata.DRQ  # one block: the data phase is over


def test_read_sectors_gives_each_sector_after_its_interrupt_and_status_read_acknowledges():
    d = _drive(8)
    _command(d, ata.READ_SECTORS, lba=2, count=3)
    for lba in (2, 3, 4):
        assert d.intrq and d.status & ata.DRQ  # 9.5: INTRQ with DRQ for each block
        assert d.read(ata.ALT_STATUS) & ata.DRQ and d.intrq  # alternate status: no ack (7.2.4)
        d.read(ata.STATUS)
        assert not d.intrq  # reading Status clears the pending interrupt (7.15)
        assert _read_block(d) == bytes(d.image[lba * 512:(lba + 1) * 512])
    assert d.status == ata.DRDY | ata.DSC and not d.intrq


def test_write_sectors_asks_for_the_first_block_without_an_interrupt_then_one_per_sector():
    d = _drive(8)
    _command(d, ata.WRITE_SECTORS, lba=5, count=2)
    assert d.status & ata.DRQ and not d.intrq  # 9.6: the first DRQ block, no interrupt
    for n, fill in enumerate((0x1111, 0x2222)):
        for _ in range(256):
            d.write(ata.DATA, fill, 2)
        assert d.intrq  # after each sector
        d.read(ata.STATUS)
        assert bool(d.status & ata.DRQ) == (n == 0)  # the last one completes the command
    assert d.image[5 * 512:7 * 512] == b"\x11" * 512 + b"\x22" * 512


def test_errors_past_the_end_unknown_commands_and_chs_addressing():
    d = _drive(8)
    _command(d, ata.READ_SECTORS, lba=7, count=2)  # sector 8 does not exist
    assert d.status & ata.ERR and d.error == ata.IDNF and d.intrq and not d.status & ata.DRQ
    d.read(ata.STATUS)
    _command(d, 0x91)  # INITIALIZE DEVICE PARAMETERS: not implemented here
    assert d.status & ata.ERR and d.error == ata.ABRT
    _command(d, ata.READ_SECTORS, device=0xA0)  # CHS (device bit 6 clear): refused
    assert d.error == ata.ABRT
    _command(d, ata.READ_SECTORS, lba=0, count=1)  # the next good command clears the error
    assert d.error == 0 and not d.status & ata.ERR


def test_sector_count_zero_means_256_and_nien_masks_the_interrupt():
    d = _drive(300)
    d.write(ata.CONTROL, ata.NIEN)
    _command(d, ata.READ_SECTORS, lba=0, count=0)
    assert d.left == 256 and not d.intrq  # 8.27: 0 means 256; nIEN: no INTRQ (7.7)


def test_software_reset_and_an_absent_slave():
    d = _drive(8)
    _command(d, ata.READ_SECTORS, lba=0, count=1)
    d.write(ata.CONTROL, ata.SRST)
    d.write(ata.CONTROL, 0)
    assert not d.status & ata.DRQ and not d.intrq and d.error == 1  # diagnostic: no error
    d.write(ata.DEVICE, 0xF0)  # device 1: nobody there
    assert d.read(ata.STATUS) == 0
    d.write(ata.COMMAND, ata.IDENTIFY)
    assert d.stats["commands"] == 1  # (only the read before the reset)


@pytest.mark.parametrize("bad, why", [(b"\0" * 513, "whole number"), (b"", "whole number"),
                                      (0, "1 to"), (True, "not a bool"), ("/no/such/disk", "no disk")])
def test_a_disk_image_that_cannot_be_a_disk_is_refused_with_the_reason(bad, why):
    with pytest.raises(VlabError, match=why):
        ata.image_from(bad)
    with pytest.raises(VlabError, match=why):
        Lab("disk", disk=bad)


# ---------------------------------------------------------------------------- the 8259 pair
def test_a_slave_interrupt_arrives_through_the_cascade_and_needs_both_eois():
    pic = Pic()
    pic.write(0x21, 0xFB)  # master: only line 2 (the slave)
    pic.write(0xA1, 0xBF)  # slave: only line 6 (IRQ 14)
    pic.raise_irq(14)
    assert pic.irr & 4 and pic.pending_vector() == 0x2E
    pic.acknowledge(0x2E)
    assert pic.in_service() == [14] and pic.pending_vector() is None
    pic.raise_irq(14)  # a second request waits while the first is in service
    pic.write(0x20, 0x20)  # EOI to the master alone: the slave is still busy
    assert pic.pending_vector() is None
    pic.write(0xA0, 0x20)
    assert pic.pending_vector() == 0x2E


def test_masked_slave_lines_and_a_withdrawn_request_do_not_interrupt():
    pic = Pic()
    pic.write(0x21, 0xFB)
    pic.raise_irq(14)  # the slave masks every line at boot
    assert pic.pending_vector() is None and not pic.irr & 4
    pic.write(0xA1, 0xBF)
    assert pic.pending_vector() == 0x2E
    pic.lower_irq(14)
    assert pic.pending_vector() is None and pic.requested() == []


def test_no_disk_means_the_channel_floats():
    assert Devices().read(ata.STATUS) & 0xFF == 0xFF  # (an empty channel: bus pulled high)


# ---------------------------------------------------------------------------- the workload
@pytest.fixture(scope="module")
def workload() -> dict[str, Lab]:
    labs = {}
    for strategy in FULL:
        lab = Lab("disk", strategy=strategy)
        lab.run()
        labs[strategy] = lab
    return labs


def test_the_disk_workload_prints_the_same_under_every_full_virtualization_strategy(workload):
    native = workload["native"]
    assert native.exit_code == 0
    lines = native.console.splitlines()
    assert lines[1] == "disk: 128 sectors, LBA yes"
    assert lines[4].endswith("(as written)")
    assert lines[5] == "read past the end: refused, status 0x00000041, error IDNF or ABRT"
    assert lines[6] == "disk interrupts: 70"  # IDENTIFY 1 + 4 + 32 written + 32 read + 1 error
    for strategy, lab in workload.items():
        assert lab.console == native.console, strategy
        assert lab.machine.instructions == native.machine.instructions, strategy
        assert lab.machine.devices.disk.image == native.machine.devices.disk.image


def test_the_image_sectors_are_read_as_they_are_on_the_disk(workload):
    lab = workload["native"]
    image = ata.pattern(4)
    value = 0
    for (word,) in struct.iter_unpack("<I", image):
        value = ((value << 5 | value >> 27) + word) & 0xFFFF_FFFF
    assert lab.console.splitlines()[2] == f"image sectors 0-3: checksum {value:#010x}"


def test_every_port_access_of_the_emulated_disk_reaches_the_monitor(workload):
    """Full virtualization turns each register access into a monitor entry: 256 data-port
    accesses a sector (REP INSW/OUTSW exit per iteration), plus the command block."""
    accesses = workload["native"].machine.devices.disk.stats["port_accesses"]
    for strategy in ("trap_emulate", "binary_translation", "vtx"):
        lab = workload[strategy]
        io = lab.trace.counts()["IO_INSTRUCTION"]
        disk = lab.machine.devices.disk.stats
        assert disk["port_accesses"] == accesses
        assert io >= accesses and io - accesses < 1000, strategy  # (+ PIC EOIs, serial, exit)
        moved_kib = (disk["sectors_read"] + disk["sectors_written"]) / 2
        assert io / moved_kib > 512, strategy  # at least a word's exit per 2 bytes
    assert workload["native"].trace.total == 0


def test_rep_insw_interrupted_between_iterations_loses_no_word():
    """Unicorn leaves an INS iteration undone when a hook stops the core inside it (the disk
    raises its interrupt on a block's last word): the word must not be read twice."""
    source = """
.include "vlab.inc"
.section .text
.globl _start
_start:
    SET_GATE idt, 0x2E, handler, 0x8E
    lidt [idt_desc]
    mov al, 0xFB
    out PIC_DATA, al
    mov al, 0xBF
    out 0xA1, al
    mov al, 0xE0
    mov dx, 0x1F6
    out dx, al
    mov al, 2
    mov dx, 0x1F2
    out dx, al
    mov al, 0x20
    mov dx, 0x1F7
    out dx, al
    sti
    mov edi, offset buf
    mov ecx, 512
    mov dx, 0x1F0
    cld
    rep insw
    cli
    mov [left], ecx
    EXIT 0
handler:
    push eax
    push edx
    mov dx, 0x1F7
    in al, dx
    inc dword ptr [irqs]
    mov al, 0x20
    out 0xA0, al
    out 0x20, al
    pop edx
    pop eax
    iretd
.section .data
.align 4
left: .long 0
irqs: .long 0
    .word 0
idt_desc:
    .word 0x2F * 8 + 7
    .long idt
.align 8
idt: .space 0x30 * 8
buf: .space 1024
"""
    image = assemble(source, "rep_insw_interrupted")
    counts = set()
    for strategy in FULL:
        lab = Lab(image, strategy=strategy, disk=4)
        lab.run()
        data = lab.machine.memory.read_linear(image.symbols["buf"], 1024)
        assert data == bytes(ata.pattern(4)[:1024]), strategy
        assert lab.read_u32("irqs") == 2 and lab.read_u32("left") == 0
        assert lab.machine.devices.disk.stats["port_accesses"] == 512 + 3 + 2  # (+ 3 OUTs, 2 acks)
        counts.add(lab.machine.instructions)
    assert len(counts) == 1


def test_a_snapshot_carries_the_disk_and_step_back_undoes_a_write():
    lab = Lab("disk")
    before = bytes(lab.machine.devices.disk.image)
    snap = lab.machine.snapshot()
    lab.run()
    assert bytes(lab.machine.devices.disk.image) != before
    lab.machine.restore(snap)
    assert bytes(lab.machine.devices.disk.image) == before
    lab.run()
    assert lab.console.splitlines()[4].endswith("(as written)")
