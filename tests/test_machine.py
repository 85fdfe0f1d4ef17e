"""The machine: rings, IDT delivery, devices, breakpoints, snapshots, errors."""

import pytest

from tests.conftest import build, lab_of
from vlab import layout
from vlab.errors import BudgetExhausted, GuestHang, InvalidOpcode, TripleFault, UnmappedAccess, VlabError
from vlab.hw.machine import Machine
from vlab.lab import Lab
from vlab.monitor.trace import ExitReason


def test_ten_thousand_consecutive_faults_are_each_a_gp():
    lab = lab_of("gp_storm")
    lab.run()
    assert lab.console == "gp=10000 df=0\n"
    assert lab.exit_code == 0


def test_cpl_really_three_in_user_task():
    lab = Lab("kernel")
    lab.break_on_mode_change = True
    stop = lab.run()
    assert stop.reason == "mode_change" and stop.detail == "CPL 0 -> 3"
    st = lab.state()
    assert st.cpl == 3 and st.cs == layout.USER_CS and st.ss == layout.USER_DS
    assert lab.symbol(st.eip) == "user_main"
    stop = lab.run()  # the first system call takes it back to ring 0
    assert stop.reason == "mode_change" and stop.detail == "CPL 3 -> 0"
    assert lab.state().cpl == 0 and lab.symbol(lab.state().eip) == "syscall_handler"


def test_int80_delivered_through_guest_idt_with_stack_switch():
    lab = Lab("kernel")
    stop = lab.run(until="syscall_handler")
    assert stop.reason == "breakpoint"
    st = lab.state()
    m = lab.machine
    assert st.cpl == 0 and st.cs == layout.KERNEL_CS and not st.eflags.IF  # interrupt gate
    assert st.esp == lab.image.symbols["kernel_stack_top"] - 20  # from the TSS's ESP0
    eip, cs, eflags, esp, ss = (m.memory.read_u32(st.esp + 4 * i) for i in range(5))
    assert cs == layout.USER_CS and ss == layout.USER_DS and eflags & 0x200
    assert lab.symbol(eip).startswith("user_main+")  # just after the int 0x80
    assert m.memory.read(eip - 2, 2) == b"\xcd\x80"


def test_timer_delivered_through_guest_idt():
    lab = Lab("kernel")
    lab.run(until="timer_handler")
    st = lab.state()
    assert st.cpl == 0 and not st.eflags.IF
    assert lab.machine.devices.pic.isr == 1  # in service until the handler's EOI
    lab.run(until="idle")
    assert lab.machine.devices.pic.isr == 0


def test_timer_period_programmable_and_deterministic():
    lab = Lab("demo-popf")
    lab.run()
    assert lab.console == "POPF with IF=1, then 10000 instructions: ticks = 10\n"


def test_serial_port_registers():
    m = Machine()
    s = m.devices.serial
    assert m.device_io(False, 0x3FD, 1, 0) == 0x60  # transmitter empty
    m.device_io(True, 0x3F8, 1, ord("A"))
    m.device_io(True, 0x3FB, 1, 0x80)  # DLAB set: THR writes program the divisor, not output
    m.device_io(True, 0x3F8, 1, ord("B"))
    assert s.text == "A"
    assert m.device_io(False, 0x1234, 1, 0) == 0xFFFFFFFF


def test_exit_device_code():
    lab = lab_of("faults", CASE=7)
    stop = lab.run()
    assert stop.reason == "halted" and lab.exit_code == 7 and lab.status == "halted"
    assert lab.run().reason == "halted"  # stays halted


def test_missing_eoi_hangs_clearly():
    src = build("faults", CASE=5)
    lab = Lab(image=src)
    with pytest.raises(GuestHang, match="HLT with no interrupt"):
        lab.run()


def test_address_breakpoint_and_resume():
    lab = Lab("kernel")
    lab.add_breakpoint("timer_handler")
    seen = 0
    while lab.run().reason == "breakpoint":
        assert lab.symbol(lab.state().eip) == "timer_handler"
        seen += 1
    assert seen == 20 and lab.exit_code == 0


def test_exit_reason_breakpoint():
    """Exit breakpoints stop a run right after the monitor handled that exit (Bochs' vmexitbp)."""
    lab = Lab("demo-smsw", "trap_emulate")
    lab.break_on_exit("IO_INSTRUCTION")
    stop = lab.run()
    assert stop.reason == "exit" and stop.detail.reason == ExitReason.IO_INSTRUCTION
    # the first I/O the demo does is the serial driver's line-status poll: IN from 0x3FD
    assert stop.detail.qualification >> 16 == 0x3FD and stop.detail.qualification & 0x8
    assert lab.trace.counts()["IO_INSTRUCTION"] == 1
    assert stop.eip == stop.detail.eip + len(stop.detail.raw)  # stopped after it, not before

def test_snapshot_restore_roundtrip():
    lab = Lab("kernel")
    m = lab.machine
    lab.run(until="report")
    snap = m.snapshot()
    before, console = m.state(), m.console
    lab.run()
    assert m.exit_code == 0
    m.restore(snap)
    assert m.state() == before and m.console == console and m.exit_code is None
    lab.run()
    assert m.console == Lab("kernel").machine.console or m.console.endswith("kernel done\n")


def test_step_then_step_back_restores_state():
    lab = Lab("kernel")
    lab.run(until="user_main")
    states = [lab.state()]
    for _ in range(40):  # crosses int 0x80 into ring 0 and several checkpoints
        lab.step()
        states.append(lab.state())
    assert any(s.cpl == 0 for s in states) and states[0].cpl == 3
    for expected in reversed(states[:-1]):
        lab.step_back()
        assert lab.state() == expected
    with pytest.raises(VlabError, match="nothing to step back"):
        lab.step_back()


def test_deprivilege_really_lowers_cpl():
    m = Machine()
    m.cpu.deprivilege(cs=layout.RING1_CS, eip=layout.ENTRY, ss=layout.RING1_DS, esp=0x80000,
                  eflags=0x2)
    assert m.state().cpl == 1 and m.state().ss == layout.RING1_DS
    m.cpu.enter(cs=layout.KERNEL_CS, eip=layout.ENTRY, ss=layout.KERNEL_DS, esp=0x80000, eflags=0x2)
    assert m.state().cpl == 0
    m.cpu.deprivilege(cs=layout.USER_CS, eip=layout.ENTRY, ss=layout.USER_DS, esp=0x80000, eflags=0x2)
    assert m.state().cpl == 3


@pytest.mark.parametrize("case,error,text", [
    (1, InvalidOpcode, "ud2"),
    (2, TripleFault, "no usable IDT"),
    (3, UnmappedAccess, "0x80000000"),
    (6, TripleFault, "#GP general protection"),
])
def test_error_classes(case, error, text):
    lab = lab_of("faults", CASE=case)
    with pytest.raises(error) as info:
        lab.run()
    assert text in str(info.value)
    assert info.value.eip is not None and "EIP=0x001000" in str(info.value)
    assert lab.status == error.__name__
    with pytest.raises(VlabError, match="call reset"):
        lab.run()
    lab.reset()  # the lab is usable again
    assert lab.state().eip == layout.ENTRY and lab.status == "running"


def test_unmapped_access_names_address():
    lab = lab_of("faults", CASE=3)
    with pytest.raises(UnmappedAccess) as info:
        lab.run()
    assert info.value.address == 0x80000000 and "mov eax" in info.value.instruction


def test_budget_exhausted_is_exact_and_resumable():
    lab = Lab(image=build("faults", CASE=4), budget=12_345)
    with pytest.raises(BudgetExhausted):
        lab.run()
    assert lab.instructions == 12_345
    lab.machine.clock.budget = 20_000
    with pytest.raises(BudgetExhausted):
        lab.run()
    assert lab.instructions == 20_000


def test_run_limit_counts_exactly():
    lab = Lab("kernel")
    stop = lab.run(max_instructions=1000)
    assert stop.reason == "limit" and lab.instructions == 1000
    lab.run(max_instructions=2345)
    assert lab.instructions == 3345


def test_bad_image_is_refused_clearly():
    with pytest.raises(VlabError, match="empty"):
        Lab(image=b"")
    with pytest.raises(VlabError, match="does not fit"):
        Lab(image=b"\x90" * (5 * 1024 * 1024))
    with pytest.raises(VlabError, match="no image file"):
        Lab(image="/nonexistent.bin")


def test_invalid_bytes_image():
    lab = Lab(image=b"\xff\xff\xff\xff")
    with pytest.raises(InvalidOpcode):
        lab.run()


@pytest.mark.parametrize("strategy", ["native", "trap_emulate", "binary_translation", "vtx"])
def test_a_step_onto_a_faulting_instruction_stops_at_the_handlers_entry(strategy):
    """A faulting instruction does not complete (SDM vol. 3A, 6.5: a fault reports the state
    before it): one step delivers the #GP and stops at the handler's first instruction, as a
    debugger's step does, with nothing retired; step_back returns to the instruction. (The
    protection guest's ring-3 task: IN (#GP via the IN/OUT path), HLT, MOV DS (#GP(0x10)).)"""
    lab = Lab("protection", strategy)
    handler = lab.image.symbols["gp_handler"]
    seen = []
    for _ in range(20_000):
        insn = lab.disassemble()[0]
        if lab.machine.cpu.cpl() == 3 and insn.mnemonic in ("in", "hlt") or \
                insn.text.startswith("mov ds") and lab.machine.cpu.cpl() == 3:
            before, eip = lab.instructions, lab.machine.cpu.eip
            stop = lab.step()
            assert (stop.reason, lab.machine.cpu.eip) == ("step", handler), insn.text
            assert lab.instructions == before and stop.detail == "exception delivered"
            lab.step_back()
            assert lab.machine.cpu.eip == eip and lab.instructions == before
            seen.append(insn.mnemonic)
            if len(seen) == 3:
                break
            lab.step()
        lab.step()
    assert seen == ["in", "mov", "hlt"]


def test_reset_and_switch_keep_what_the_student_set_to_stop_the_guest():
    """A debugger keeps breakpoints across a restart: Lab.reset() (the widget's Reset) and a
    switch to another strategy with the same image keep breakpoints, the CPL break and exit
    breakpoints; a switch to another image (the paravirtual build) drops them (other
    addresses)."""
    lab = Lab("kernel", "trap_emulate")
    lab.add_breakpoint("user_main")
    lab.break_on_mode_change = True
    lab.break_on_exit("HLT")
    lab.run()
    lab.reset()
    assert lab.instructions == 0 and lab.machine.breakpoints == {lab.image.symbols["user_main"]}
    assert lab.break_on_mode_change and ExitReason.HLT in lab.exit_breakpoints
    lab.break_on_mode_change = False
    assert lab.run().reason == "breakpoint" and lab.machine.cpu.eip == lab.image.symbols["user_main"]
    lab.switch("binary_translation")
    assert lab.run().reason == "breakpoint" and lab.machine.cpu.eip == lab.image.symbols["user_main"]
    lab.switch("paravirt")
    assert lab.guest == "kernel-pv" and not lab.machine.breakpoints and not lab.exit_breakpoints


@pytest.mark.parametrize("strategy", ["trap_emulate", "binary_translation", "vtx"])
def test_an_exit_breakpoint_on_hlt_stops_at_every_hlt_exit(strategy):
    """break_on_exit("HLT") stops after each HLT the monitor handles: 20 in the kernel's run
    under every monitor (under VT-x the HLT exit is taken once the core has halted: it stopped
    nothing before)."""
    lab = Lab("kernel", strategy)
    lab.break_on_exit("HLT")
    stops = []
    while (stop := lab.run()).reason == "exit":
        stops.append(stop)
    assert stop.reason == "halted" and len(stops) == lab.trace.counts()["HLT"] == 20
    assert all(s.detail.reason == ExitReason.HLT for s in stops)


def test_a_stop_shows_its_addresses_in_hex():
    """What a notebook prints for ``lab.run()``: EIP and a breakpoint's address in hex, an exit
    by its reason and address (not the whole record in decimal)."""
    lab = Lab("kernel", "vtx")
    lab.add_breakpoint("user_main")
    stop = lab.run()
    user_main = lab.image.symbols["user_main"]
    assert repr(stop) == f"Stop(reason='breakpoint', eip={user_main:#010x}, detail='{user_main:#010x}')"
    lab.remove_breakpoint("user_main")
    lab.break_on_exit("HLT")
    stop = lab.run()
    assert str(stop) == f"exit at {stop.eip:#010x} (HLT at {stop.detail.eip:#010x})"
