"""The mini hypervisor (vlab/guests/hypervisor/hv.S) on Bochs, the oracle whose VMX (EPT,
unrestricted guest) it was written against: the teaching kernel prints exactly what it prints on
the bare machine, the exits are the ones expected, and the hypervisor reports what goes wrong.

Bochs is required, not optional (as in tests/conformance/test_bochs.py): without it these tests
fail with the apt command to run. Cost: a bundle's run takes about 0.3 s (its 530 KB floppy
image loads slower than a guest alone, about 0.15 s); 14 runs, about 5 s in all.
"""

from __future__ import annotations

import re

import pytest

from tests.conformance.bochs import MAX_IMAGE, bochs_binary, run_on_bochs
from tests.conformance.test_bochs import BOOT_STATE, TRIPLE_FAULT
from vlab import guests
from vlab.errors import VlabError
from vlab.guests import hypervisor
from vlab.isa import Image, assemble

STATS = re.compile(r"hv: exits total=(\d+) cpuid=(\d+) hlt=(\d+) io=(\d+) cr=(\d+) vmcall=(\d+)\n\Z")

# Reads CR0, CR4 and the MSW, and writes CR0.NE (a bit the hypervisor hides: two CR exits) and
# CR4.PSE (not hidden: no exit).
CONTROL_REGISTERS = """
.include "vlab.inc"
.section .text
.globl _start
_start:
    mov eax, cr0
    call puthex
    mov eax, cr4
    call space_hex
    mov eax, cr0
    or eax, 0x20
    mov cr0, eax
    mov eax, cr0
    call space_hex
    and eax, ~0x20
    mov cr0, eax
    mov eax, cr0
    call space_hex
    mov eax, cr4
    or eax, 0x10
    mov cr4, eax
    mov eax, cr4
    call space_hex
    smsw eax
    and eax, 0xFFFF
    call space_hex
    call newline
    EXIT 5
space_hex:
    push eax
    mov al, ' '
    call putc
    pop eax
    jmp puthex
.include "lib.inc"
"""

# CPUID leaf 1 (ECX[31] "hypervisor present", ECX[5] VMX), then a VMCALL (#UD on bare metal).
CPUID_VMCALL = """
.include "vlab.inc"
.section .text
.globl _start
_start:
    mov eax, 1
    cpuid
    mov eax, ecx
    shr eax, 31
    call putdec
    mov eax, ecx
    shr eax, 5
    and eax, 1
    call putdec
    vmcall
    PRINT " vmcall returned\\n"
    EXIT 0
.include "lib.inc"
"""

TOUCH_HYPERVISOR = """
.include "vlab.inc"
.section .text
.globl _start
_start:
    PRINT "writing to 0x180000\\n"
    mov dword ptr [0x180000], 0
    PRINT "written\\n"
    EXIT 0
.include "lib.inc"
"""



def _stats(console: str) -> tuple[str, dict[str, int]]:
    """(the guest's console, the exit counts) of a stats bundle's console."""
    m = STATS.search(console)
    assert m, console[-300:]
    names = ("total", "cpuid", "hlt", "io", "cr", "vmcall")
    return console[:m.start()], dict(zip(names, map(int, m.groups()), strict=True))


@pytest.fixture(scope="module")
def kernel() -> Image:
    return guests.build("kernel")


@pytest.fixture(scope="module")
def native_kernel(kernel):
    bochs_binary()  # Bochs missing: BochsMissing, a failure (never a skip)
    result = run_on_bochs(kernel)
    assert result.exit_code == 0 and "kernel done\n" in result.console, result.log_tail
    return result


def test_the_bundle_is_the_kernel_then_the_hypervisor(kernel):
    image = hypervisor.bundle()
    base = hypervisor.HV_BASE
    assert image.origin == kernel.origin == 0x100000
    assert image.code[:len(kernel.code)] == kernel.code
    assert not any(image.code[len(kernel.code):base - image.origin])
    hv = hypervisor.build(kernel.entry)
    assert image.code[base - image.origin:] == hv.code
    assert image.entry == image.symbols["_start"] == hv.symbols["_start"] == base
    assert image.symbols["guest._start"] == kernel.entry == 0x100000
    for name in ("exits_total", "exits_cpuid", "exits_hlt", "exits_io", "exits_cr", "hv_stack_top"):
        assert base <= image.symbols[name] <= image.symbols["_end"] <= hypervisor.HV_END
    assert len(image.code) <= MAX_IMAGE
    with pytest.raises(VlabError, match="inside the hypervisor"):
        hypervisor.bundle(Image("big", bytes(base - 0x100000 + 1), 0x100000))
    with pytest.raises(VlabError, match="origin"):
        hypervisor.bundle(Image("elsewhere", b"\xf4", 0x200000))


def test_the_kernel_prints_exactly_its_native_console(native_kernel):
    result = run_on_bochs(hypervisor.bundle())
    assert result.console == native_kernel.console != ""
    assert result.exit_code == 0  # the kernel's own EXIT 0, not a triple fault or the timeout
    assert not result.triple_fault and not result.timed_out


def test_the_exits_of_the_kernel(native_kernel):
    result = run_on_bochs(hypervisor.bundle(stats=True))
    console, exits = _stats(result.console)
    assert console == native_kernel.console and result.exit_code == 0
    assert exits["cpuid"] == 1  # the vendor string
    assert exits["hlt"] >= 4  # three yields of the user task, then the idle loop
    # each character: at least one read of the LSR and one write; then the exit port (stats only)
    assert exits["io"] >= 2 * len(console) + 1
    assert exits["cr"] == 0 and exits["vmcall"] == 0  # no CR3 exiting; CR0.NE is never written
    assert exits["total"] == sum(v for k, v in exits.items() if k != "total")


def test_the_guest_starts_in_the_machines_boot_state():
    guest = assemble(BOOT_STATE, "boot_state")
    native, nested = run_on_bochs(guest), run_on_bochs(hypervisor.bundle(guest))
    assert native.exit_code == nested.exit_code == 0
    assert nested.console == native.console and "ltr 0x38 again: ok" in native.console


def test_control_registers_read_as_on_bare_metal():
    guest = assemble(CONTROL_REGISTERS, "control_registers")
    native = run_on_bochs(guest)
    assert native.console == "0x00000011 0x00000000 0x00000031 0x00000011 0x00000010 0x00000011\n"
    console, exits = _stats(run_on_bochs(hypervisor.bundle(guest, stats=True)).console)
    assert console == native.console  # CR0.NE and CR4.VMXE hidden by the read shadows
    assert exits["cr"] == 2  # both writes of CR0.NE; CR4.PSE is not masked


def test_cpuid_says_hypervisor_and_vmcall_returns():
    result = run_on_bochs(hypervisor.bundle(assemble(CPUID_VMCALL, "cpuid_vmcall"), stats=True))
    console, exits = _stats(result.console)
    assert console == "10 vmcall returned\n" and result.exit_code == 0
    assert exits["cpuid"] == 1 and exits["vmcall"] == 1


def test_the_guest_cannot_touch_the_hypervisor():
    result = run_on_bochs(hypervisor.bundle(assemble(TOUCH_HYPERVISOR, "touch")))
    assert result.console == ("writing to 0x180000\n"
                              "hv: EPT violation at guest-physical 0x00180000\n")
    assert result.exit_code == 0x45 and not result.triple_fault


def test_a_guest_triple_fault_is_reported():
    result = run_on_bochs(hypervisor.bundle(assemble(TRIPLE_FAULT, "triple_fault")))
    assert re.fullmatch(r"before\nhv: the guest triple-faulted, RIP 0x[0-9a-f]{8}\n", result.console)
    assert result.exit_code == 0x46 and not result.triple_fault


@pytest.mark.parametrize("name", ["paging", "disk"])
def test_other_guests_print_their_native_console(name):
    """The paging kernel (its own page tables over EPT, CR3 reloads, INVLPG) and the disk kernel
    (ATA PIO, IRQ 14 through the slave 8259) are as unmodified as the teaching kernel."""
    guest, disk = guests.build(name), guests.info(name).disk or None
    native, nested = run_on_bochs(guest, disk=disk), run_on_bochs(hypervisor.bundle(guest), disk=disk)
    assert native.exit_code == nested.exit_code == 0
    assert nested.console == native.console != ""
