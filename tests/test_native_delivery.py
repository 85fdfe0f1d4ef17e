"""The machine delivers the common case of an interrupt or exception in C (vlab/hw/deliver.c):
paging off, a usable 32-bit interrupt or trap gate, the handler in the CPL's own ring or in
ring 0 from an outer ring (the stack from the TSS), flat stacks. It makes the same checks and
has the same effects as Python's delivery (SDM vol. 3, 6.12.1: gate, code segment, stack switch,
frame, IF cleared for an interrupt gate), and declines, changing nothing, wherever the case is
not the common one; Python then delivers or escalates as before.

Each guest here runs twice, delivering in Python only and with the C path, and must end the same
in everything a student can see: where and why it stopped (or the error), instructions, timer
ticks, registers, console, and every byte of guest RAM (the frames pushed)."""

from __future__ import annotations

import pytest
from conftest import build, run_outcome

from vlab import Lab, nanobench
from vlab.errors import VlabError
from vlab.hw import delivery


def both(monkeypatch, make) -> int:
    """``make()``'s lab run in Python only, then with the C path: the same outcome. Returns how
    many deliveries the C path made."""
    monkeypatch.setattr(delivery, "NATIVE", False)
    python = make()
    assert python.machine.native_delivery is None
    expected = run_outcome(python)
    monkeypatch.setattr(delivery, "NATIVE", True)
    native = make()
    assert native.machine.native_delivery is not None, "the native library is not built"
    assert run_outcome(native) == expected
    return native.machine.native_delivery.count


def test_int_from_ring_3_is_delivered_in_c_with_the_tss_stack(monkeypatch):
    """nano-syscall: INT 0x80 from ring 3 to a ring-0 handler through a trap gate: every call
    delivered in C (an inward switch: SS:ESP from the TSS, the outer SS:ESP pushed), the n
    measured and the last one that ends the guest."""
    n = 300
    image = nanobench.build("nano-syscall", n)
    made = both(monkeypatch, lambda: Lab(image=image, strategy="native", timer_period=0))
    assert made == n + 1


def test_a_fault_in_the_same_ring_is_delivered_in_c(monkeypatch):
    """nano-divzero: #DE in ring 0 to a ring-0 handler, every one in C."""
    n = 200
    image = nanobench.build("nano-divzero", n)
    assert both(monkeypatch, lambda: Lab(image=image, strategy="native", timer_period=0)) == n


def test_with_paging_on_python_delivers(monkeypatch):
    """nano-pgfault turns paging on before its faults: the C path declines every one (a linear
    address is no longer physical), and Python delivers them."""
    image = nanobench.build("nano-pgfault", 50)
    made = both(monkeypatch, lambda: Lab(image=image, strategy="native", timer_period=0))
    assert made == 0


@pytest.mark.parametrize("period", [7, 13, 29, 64])
def test_timer_interrupts_at_every_kind_of_instruction(monkeypatch, period):
    """The counting guest with the timer armed: ticks inside REP strings, STI and MOV SS
    shadows, HLT, around faults and INT n; delivered in C, all as in Python."""
    image = build("counting", APART=1)
    made = both(monkeypatch, lambda: Lab(image=image, strategy="native", timer_period=period))
    assert made > 0


@pytest.mark.parametrize(("guest", "strategy"), [("kernel", "native"), ("kernel", "vtx"),
                                                 ("kernel", "binary_translation"),
                                                 ("syscalls", "native"), ("protection", "native")])
def test_the_course_guests_end_the_same(monkeypatch, guest, strategy):
    both(monkeypatch, lambda: Lab(guest, strategy))


@pytest.mark.parametrize("case", [1, 2, 6])
def test_events_with_no_usable_gate_end_as_before(monkeypatch, case):
    """No IDT, a gate missing for #UD, #GP and #DF without gates: the C path declines each, and
    the run ends with the same error (#UD with no handler, triple faults)."""
    image = build("faults", CASE=case)
    assert both(monkeypatch, lambda: Lab(image=image, strategy="native")) == 0


def test_the_iretd_check_leaves_to_python_what_it_cannot_tell(monkeypatch):
    """desc_iretd_accessed (SDM vol. 3A, 3.4.5.1; confirmed on Bochs): its first IRETD loads a
    code segment whose Accessed bit is clear, which the core would leave clear: the check in C
    cannot tell and calls the Python check, which sets it; the second IRETD finds it set. Both
    ways print what Bochs prints, and the IRETDs are checked in C."""
    from tests.conformance.programs import PROGRAMS_DIR
    from tests.conformance.programs import build as build_program

    image = build_program(PROGRAMS_DIR / "desc_iretd_accessed.S")
    both(monkeypatch, lambda: Lab(image=image, strategy="native"))
    lab = Lab(image=image, strategy="native")
    lab.run()
    assert lab.console.splitlines()[-2:] == ["access after = 0x0000009b", "again = 0x0000009b"]
    irets = [a for a in lab.machine.checks.hooked if lab.machine.memory.peek(a, 1) == b"\xcf"]
    assert irets and all(a in lab.machine.native_delivery._kept for a in irets)  # noqa: SLF001


def test_a_failing_python_check_behind_the_c_check_ends_the_run_cleanly(monkeypatch):
    """The C check calls the Python one for the first IRETD of desc_iretd_accessed; if that
    fails (a bug), the run ends with a clear error, as with a Python hook, and the process and
    the lab go on."""
    from tests.conformance.programs import PROGRAMS_DIR
    from tests.conformance.programs import build as build_program
    from vlab.hw import checks

    def broken(self, insn, mn):
        raise RuntimeError("broken check")

    monkeypatch.setattr(checks.Checks, "_far_transfer", broken)
    lab = Lab(image=build_program(PROGRAMS_DIR / "desc_iretd_accessed.S"), strategy="native")
    with pytest.raises(VlabError, match="internal error while checking.*broken check"):
        lab.run()
    lab.reset()
    assert lab.state().eip == lab.image.entry
