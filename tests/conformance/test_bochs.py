"""Bochs as an independent oracle (bochs.py): smoke tests of the harness against vlab's native
run, then every conformance program (programs/*.S) on Bochs against its header's expectation
(with an ATA disk holding vlab's disk pattern when the header says ``disk: N``).

Bochs is required, not optional: without it these tests fail with the apt command to run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vlab.isa import assemble
from vlab.lab import Lab

from .bochs import BochsError, bochs_binary, disk_geometry, run_on_bochs
from .programs import Header, build, parse_header, programs

HELLO = """
.include "vlab.inc"
.section .text
.globl _start
_start:
    PRINT "hello, world\\n"
    mov eax, 1234
    call putdec
    call newline
    EXIT 7
.include "lib.inc"
"""

TRIPLE_FAULT = """
.include "vlab.inc"
.section .text
.globl _start
_start:
    PRINT "before\\n"
    int3                                # no IDT: #GP, #DF, then a triple fault
    PRINT "after\\n"
    EXIT 0
.include "lib.inc"
"""

TIMER = """
.include "vlab.inc"
.section .text
.globl _start
_start:
    SET_GATE idt, TIMER_VECTOR, tick, 0x8E
    lidt [idt_desc]
    mov al, 0xFE                        # unmask IRQ0
    out PIC_DATA, al
    sti
1:  hlt
    cmp dword ptr [ticks], 5
    jb 1b
    cli
    PRINT "ticks: "
    mov eax, [ticks]
    call putdec
    call newline
    EXIT 0
tick:
    push eax
    inc dword ptr [ticks]
    mov al, 0x20
    out PIC_CMD, al
    pop eax
    iretd
.include "lib.inc"
.section .data
.align 4
ticks:  .long 0
    .word 0
idt_desc:
    .word TIMER_VECTOR * 8 + 7
    .long idt
.align 8
idt:    .space (TIMER_VECTOR + 1) * 8
"""

# The power-on state vlab documents (vlab/hw/cpu.py power_on, vlab/hw/machine.py reset), as the
# guest sees it: registers, control registers, selectors, IDTR, the boot GDT's descriptors (the
# TSS base masked: it is 0xFFFF0100 in vlab, 0x680 on Bochs) and the boot TSS. Then LTR 0x38
# again, which only works if the TSS descriptor is "available" as in vlab's boot GDT.
BOOT_STATE = """
.include "vlab.inc"
.section .text
.globl _start
_start:
    pushfd
    pushad
    PRINT "regs:"
    mov ecx, 9                          # EDI ESI EBP ESP EBX EDX ECX EAX EFLAGS
    mov esi, esp
1:  lodsd
    call space_hex
    loop 1b
    PRINT "\\ncr0 cr3 cr4:"
    mov eax, cr0
    call space_hex
    mov eax, cr3
    call space_hex
    mov eax, cr4
    call space_hex
    PRINT "\\ncs ds es fs gs ss tr ldtr:"
    xor eax, eax
    mov ax, cs
    call space_hex
    mov ax, ds
    call space_hex
    mov ax, es
    call space_hex
    mov ax, fs
    call space_hex
    mov ax, gs
    call space_hex
    mov ax, ss
    call space_hex
    str ax
    call space_hex
    sldt ax
    call space_hex
    PRINT "\\nidtr gdtr.limit:"
    sidt [dtr]
    movzx eax, word ptr [dtr]
    call space_hex
    mov eax, [dtr + 2]
    call space_hex
    sgdt [dtr]
    movzx eax, word ptr [dtr]
    call space_hex
    PRINT "\\ngdt:"
    mov ebx, [dtr + 2]
    mov ecx, 14                         # descriptors 0x00-0x30
    mov esi, ebx
2:  lodsd
    call space_hex
    loop 2b
    mov eax, [ebx + 0x38]               # the TSS descriptor without its base
    and eax, 0x0000FFFF
    call space_hex
    mov eax, [ebx + 0x3C]
    and eax, 0x00FFFF00
    call space_hex
    movzx eax, byte ptr [ebx + 0x3F]    # the TSS base: bits 31:24, 23:16, then 15:0
    shl eax, 8
    mov al, [ebx + 0x3C]
    shl eax, 16
    mov ax, [ebx + 0x3A]
    mov edi, eax
    PRINT "\\ntss esp0 ss0 iomap:"
    mov eax, [edi + 4]
    call space_hex
    mov eax, [edi + 8]
    call space_hex
    movzx eax, word ptr [edi + 0x66]
    call space_hex
    PRINT "\\ntss lar lsl:"
    mov ax, TSS_SELECTOR
    lar eax, ax
    and eax, 0x00F0FF00
    call space_hex
    mov ax, TSS_SELECTOR
    lsl eax, ax
    call space_hex
    PRINT "\\n"
    mov ax, TSS_SELECTOR
    ltr ax
    PRINT "ltr 0x38 again: ok\\n"
    EXIT 0
space_hex:
    push eax
    mov al, ' '
    call putc
    pop eax
    jmp puthex
.include "lib.inc"
.section .data
.align 4
dtr:      .space 8
"""


def _native(source: str, name: str) -> tuple[Lab, object]:
    image = assemble(source, name)
    lab = Lab(image=image)
    try:
        lab.run()
    except Exception:  # a guest that triple-faults ends the native run with an error
        pass
    return lab, image


def _bochs_children(parent: int) -> list[int]:
    """Live Bochs processes whose parent is ``parent``."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm, rest = text.split("(", 1)[1].rsplit(")", 1)
        state, ppid = rest.split()[:2]
        if int(ppid) == parent and comm.startswith("bochs") and state != "Z":
            pids.append(int(stat.parent.name))
    return pids


def _our_bochs_processes() -> list[int]:
    return _bochs_children(os.getpid())


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_bochs_is_installed():
    assert bochs_binary()


def test_hello_world_prints_as_in_vlab():
    lab, image = _native(HELLO, "hello")
    result = run_on_bochs(image)
    assert result.console == lab.console == "hello, world\n1234\n"
    assert result.exit_code == lab.exit_code == 7
    assert not result.triple_fault and not result.timed_out
    assert _our_bochs_processes() == []


def test_source_text_is_assembled():
    assert run_on_bochs(HELLO).console == "hello, world\n1234\n"


def test_a_triple_fault_is_reported():
    lab, image = _native(TRIPLE_FAULT, "triple_fault")
    result = run_on_bochs(image)
    assert lab.status == "TripleFault" and lab.console == "before\n"
    assert result.triple_fault and result.exit_code is None and not result.timed_out
    assert result.console == "before\n"
    assert "3rd (13) exception with no resolution" in result.log_tail
    assert _our_bochs_processes() == []


def test_the_timer_interrupts_through_the_remapped_pic():
    lab, image = _native(TIMER, "timer")
    result = run_on_bochs(image)
    assert result.console == lab.console == "ticks: 5\n"


def test_the_guest_starts_in_vlabs_boot_state():
    lab, image = _native(BOOT_STATE, "boot_state")
    result = run_on_bochs(image)
    assert lab.status == "halted", lab.error
    assert result.exit_code == 0, result.log_tail
    assert result.console == lab.console


def test_a_guest_that_never_ends_is_killed_at_the_timeout():
    result = run_on_bochs(HELLO.replace("EXIT 7", "jmp ."), timeout=2)
    assert result.timed_out and result.exit_code is None
    assert result.console == "hello, world\n1234\n"
    assert _our_bochs_processes() == []


def test_no_bochs_outlives_a_killed_test_run(tmp_path: Path):
    tests = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tests.parent), str(tests)]),
               TMPDIR=str(tmp_path))  # the killed runner cannot remove its temporary directory
    code = ("from conformance.bochs import run_on_bochs\n"
            "run_on_bochs('.globl _start\\n_start: jmp _start\\n', timeout=60)\n")
    runner = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        deadline = time.monotonic() + 30
        while not (children := _bochs_children(runner.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert children, "Bochs did not start"
    finally:
        runner.kill()
        runner.wait()
    deadline = time.monotonic() + 5
    while any(map(_alive, children)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_alive, children))


def test_parse_header(tmp_path: Path):
    program = tmp_path / "p.S"
    program.write_text(
        "# title: INT3 is a trap\n"
        "# bochs: skip vlab's timer device\n"
        "# sdm: vol. 3A, 6.5 (traps)\n"
        "# expect:\n"
        "# | exception 3, eip +1\n"
        "# |\n"
        "# |   indented, trailing space \n"
        "# diverges: trap_emulate the monitor sees CPL 1\n"
        "# diverges: vtx  exits first\n"
        ".include \"conf.inc\"\n"
        "# | not the header any more\n")
    header = parse_header(program)
    assert header.title == "INT3 is a trap" and header.sdm == "vol. 3A, 6.5 (traps)"
    assert header.expect == "exception 3, eip +1\n\n  indented, trailing space \n"
    assert header.bochs_skip == "vlab's timer device"
    assert header.diverges == {"trap_emulate": "the monitor sees CPL 1", "vtx": "exits first"}
    program.write_text("# title: t\n# sdm: s\n# expect:\nmain:\n")
    assert parse_header(program) == Header("t", "s", "", None, {})


def test_parse_header_disk_and_spec(tmp_path: Path):
    program = tmp_path / "p.S"
    program.write_text("# title: t\n# spec: ATA/ATAPI-6 8.34\n# disk: 1008\n# expect:\n"
                       "# | x\nmain:\n")
    header = parse_header(program)
    assert header.disk == 1008 and header.spec == "ATA/ATAPI-6 8.34" and header.sdm == ""
    assert header.reference == "spec: ATA/ATAPI-6 8.34"
    program.write_text("# title: t\n# sdm: s\n# expect:\nmain:\n")
    assert parse_header(program).disk is None
    program.write_text("# title: t\n# disk: 1 KiB\n# expect:\nmain:\n")
    with pytest.raises(ValueError, match="sectors"):
        parse_header(program)


def test_disk_geometry():
    """The most sectors per track (<= 63), then the most heads (<= 16), with at most 16383
    cylinders; the product is always the disk's size."""
    assert disk_geometry(1008) == (1, 16, 63)
    assert disk_geometry(2016) == (2, 16, 63)
    assert disk_geometry(128) == (1, 4, 32)
    assert disk_geometry(1009) == (1009, 1, 1)  # a prime: one sector per track
    assert disk_geometry(16383 * 16 * 63) == (16383, 16, 63)
    for sectors in (1, 100, 1000, 4096, 65536, 123456):
        c, h, s = disk_geometry(sectors)
        assert c * h * s == sectors and c <= 16383 and h <= 16 and s <= 63
    for bad in (0, -8, 20011, 16383 * 16 * 63 + 1008):  # 20011: a prime above 16383
        with pytest.raises(BochsError):
            disk_geometry(bad)


def test_a_disk_bochs_cannot_take_is_refused_before_bochs_starts():
    with pytest.raises(BochsError, match="20011 sectors has no geometry"):
        run_on_bochs(HELLO, disk=20011)
    assert _our_bochs_processes() == []


def test_a_disk_leaves_the_floppy_boot_and_the_console_alone():
    """With a disk on ata0-master the BIOS probes it during POST and still boots the floppy."""
    result = run_on_bochs(HELLO, disk=1008)
    assert result.console == "hello, world\n1234\n" and result.exit_code == 7


PROGRAMS = programs()


@pytest.mark.parametrize("path", PROGRAMS, ids=[p.stem for p in PROGRAMS])
def test_program_on_bochs(path: Path):
    header = parse_header(path)
    if header.bochs_skip is not None:
        pytest.skip(f"bochs: skip {header.bochs_skip}")
    result = run_on_bochs(build(path), disk=header.disk)
    assert not result.timed_out and not result.triple_fault, (
        f"{path.name}: {'timed out' if result.timed_out else 'triple fault'} on Bochs after\n"
        f"{result.console}\n--- log tail ---\n{result.log_tail}")
    assert result.console == header.expect, (
        f"{path.name}: {header.title}\n--- expected ({header.reference})\n{header.expect}"
        f"--- got on Bochs\n{result.console}")
