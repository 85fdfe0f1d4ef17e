"""The machine's own checks on the instructions the core runs without the SDM's checks
(vlab/hw/checks.py): only those instructions are hooked, found as the core translates code,
including code written at run time. (What each check does is the conformance suite's part:
tests/conformance/programs/cr4_reserved_bits.S, msr_nonexistent.S, ltr_checks.S ...)"""

import pytest

from vlab.errors import TripleFault
from vlab.hw.checks import watched
from vlab.isa import assemble, decoder
from vlab.lab import Lab


@pytest.mark.parametrize("strategy", ["native", "binary_translation", "vtx"])
def test_only_the_watched_instructions_are_hooked(strategy):
    lab = Lab("kernel", strategy=strategy)
    lab.run()
    assert lab.exit_code == 0
    m = lab.machine
    hooked = m.checks.hooked
    assert hooked, "the kernel's IRETDs and MOV to CR0/CR4 are checked"
    for address in hooked:
        insn = decoder().decode(m.memory.code_bytes(address), address)
        assert insn is not None and watched(insn), (hex(address), insn)
    assert len(hooked) < 40  # a handful of instructions, not the kernel's thousands


def _cr4_program(patched: bool) -> bytes:
    """Executes a 3-byte NOP slot twice; the first time through, it may rewrite the slot as
    ``mov cr4, eax`` with a reserved bit (15) in EAX: SDM vol. 2A, MOV CR: #GP(0)."""
    patch = """
    mov byte ptr [slot], 0x0f
    mov byte ptr [slot + 1], 0x22
    mov byte ptr [slot + 2], 0xe0
""" if patched else ""
    src = f"""
.globl _start
_start:
    mov eax, 1 << 15
    mov ecx, 2
again:
slot:
    nop
    nop
    nop
{patch}
    dec ecx
    jnz again
    out 0xf4, al
"""
    return assemble(src, "cr4-patch").code


def test_code_written_at_run_time_is_checked():
    lab = Lab(image=_cr4_program(patched=False))
    lab.run()
    assert lab.exit_code == 0  # three NOPs twice: nothing to check
    lab = Lab(image=_cr4_program(patched=True))
    with pytest.raises(TripleFault, match="#GP"):  # (no IDT: the #GP cannot be delivered)
        lab.run()
    assert decoder().decode(lab.machine.memory.code_bytes(lab.state().eip),
                            lab.state().eip).mnemonic == "mov"
