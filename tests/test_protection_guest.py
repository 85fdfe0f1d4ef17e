"""The ``protection`` guest (notebook 01): four #GP faults from ring 3 with the error codes the SDM
gives, then port I/O at CPL 3 once the TSS's I/O bitmap allows it; the same under every strategy
that runs unmodified guests."""

import struct

import pytest

from vlab.lab import Lab

FAULTS = [("user_in", 0), ("user_mov_ds", 0x10), ("user_int", 0x0D * 8 + 2), ("user_hlt", 0)]


def test_faults_and_frames_natively():
    lab = Lab("protection")
    lab.add_breakpoint("gp_handler")
    seen = []
    while lab.run().reason == "breakpoint":
        err, eip, cs, _, esp, ss = struct.unpack("<6I", lab.read(lab.state().esp, 24))
        assert (cs, ss, esp) == (0x2B, 0x33, lab.address("user_stack_top"))
        assert lab.state().esp == lab.address("kernel_stack_top") - 24  # SS0:ESP0 from the TSS
        seen.append((lab.symbol(eip), err))
    assert seen == FAULTS
    assert lab.exit_code == 0 and lab.console.endswith(
        "ring 3 writes to the serial port itself after ioperm\ntask done\n")


@pytest.mark.parametrize("strategy", ["trap_emulate", "binary_translation", "vtx"])
def test_same_console_as_native(strategy):
    native, other = Lab("protection"), Lab("protection", strategy)
    native.run()
    other.run()
    assert other.exit_code == 0 and other.console == native.console
