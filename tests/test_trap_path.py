"""The trap's fast path (issue 20): what it skips must change nothing a student can see.

Two shortcuts sit on every trap's way into the monitor:

* a native interrupt hook, added before the Python one, takes the event's error code and origin,
  clears Unicorn's stale fault state and cuts the counted block at the faulting instruction
  (``blocks.NATIVE_FAULTS``; else the Python hook does all three);
* inside the exception hooks EIP is written straight into the CPU state, which Unicorn reads
  when it looks up the next block, instead of through ``uc_reg_write``, which also stops and
  restarts the core's execution loop (``core.DIRECT_EIP``).

Each guest runs with both shortcuts off and then on, and must end the same in everything a
student can see: where and why it stopped (or the error), instructions, timer ticks, registers,
console, the exits by reason, and every byte of guest RAM."""

from __future__ import annotations

import pytest
from conftest import build, run_outcome

from vlab import Lab, nanobench
from vlab.hw import blocks, core
from vlab.monitor.trace import Exit, ExitReason, TrapLog


def both(monkeypatch, make) -> Lab:
    """``make()``'s lab run without the shortcuts, then with them: the same outcome. Returns
    the lab that ran with them."""
    monkeypatch.setattr(blocks, "NATIVE_FAULTS", False)
    monkeypatch.setattr(core, "DIRECT_EIP", False)
    plain = make()
    assert not plain.machine.core.blocks.faults_taken
    assert not plain.machine.core.registers.direct_eip
    expected = run_outcome(plain)
    monkeypatch.setattr(blocks, "NATIVE_FAULTS", True)
    monkeypatch.setattr(core, "DIRECT_EIP", True)
    fast = make()
    assert fast.machine.core.blocks.faults_taken, "the native library is not built"
    assert fast.machine.core.registers.direct_eip
    assert run_outcome(fast) == expected
    return fast


@pytest.mark.parametrize(("guest", "strategy"), [
    ("kernel", "trap_emulate"), ("kernel", "binary_translation"), ("kernel", "vtx"),
    ("kernel-pv", "paravirt"), ("paging", "trap_emulate"), ("forkwait", "trap_emulate"),
    ("privops", "trap_emulate"), ("syscalls", "native"), ("protection", "native"),
    ("smc", "trap_emulate")])
def test_the_course_guests_end_the_same(monkeypatch, guest, strategy):
    both(monkeypatch, lambda: Lab(guest, strategy))


@pytest.mark.parametrize("period", [7, 29])
@pytest.mark.parametrize("strategy", ["native", "trap_emulate"])
def test_timer_ticks_around_faults_and_int_n_land_the_same(monkeypatch, period, strategy):
    """The counting guest with the timer armed: ticks inside REP strings, STI and MOV SS
    shadows, HLT, next to faults and INT n (whose block the hook cuts)."""
    image = build("counting", APART=1)
    both(monkeypatch, lambda: Lab(image=image, strategy=strategy, timer_period=period))


@pytest.mark.parametrize("case", [1, 2, 6])
def test_guests_that_end_in_an_error_end_with_the_same_error(monkeypatch, case):
    image = build("faults", CASE=case)
    both(monkeypatch, lambda: Lab(image=image, strategy="native"))


def test_ten_thousand_handled_faults_in_a_row(monkeypatch):
    """gp_storm: 10,000 #GP from ring 3, each handled by the guest; the stale fault state must
    be cleared every time (else the second arrives as #DF)."""
    lab = both(monkeypatch, lambda: Lab(image=build("gp_storm"), strategy="native"))
    assert lab.read_u32("gp_count") == 10_000


@pytest.mark.parametrize("guest", ["nano-cli_sti", "nano-pgfault", "nano-divzero"])
def test_the_nanobenchmarks_under_trap_and_emulate(monkeypatch, guest):
    image = nanobench.build(guest, 300)
    lab = both(monkeypatch, lambda: Lab(image=image, strategy="trap_emulate", timer_period=0))
    assert lab.exit_code == 0


def test_the_python_hook_reads_what_the_native_hook_took(monkeypatch):
    """With the native hook, no trap of the kernel under trap-and-emulate takes the fault state
    in Python, and the Python hook is handed the error code (#GP's 0) the core computed."""
    lab = Lab("privops", "trap_emulate")

    def refused():
        raise AssertionError("the fault state was taken in Python")

    monkeypatch.setattr(lab.machine.core.fault, "take", refused)
    seen = []
    monitor = lab.machine.monitor
    real = monitor.interrupt

    def interrupt(vector, error_code, software):
        seen.append((vector, error_code, bool(software)))
        real(vector, error_code, software)

    monkeypatch.setattr(monitor, "interrupt", interrupt)
    lab.run()
    assert lab.exit_code == 0
    gp = [e for e in lab.trace.recent if e.detail.get("delivered") == "#GP(0x0)"
          and e.kind == "trap"]  # (not port I/O: its exit comes from the I/O hook)
    assert gp and seen.count((13, 0, False)) >= len(gp)


def test_eip_goes_straight_to_the_cpu_state_only_inside_an_exception_hook(monkeypatch):
    """While the monitor handles a trap the flag is up; a run started inside the hook (the
    monitor's trampoline, outside a slice) writes EIP through Unicorn; after the hook, and
    outside any hook, EIP is written through Unicorn as always."""
    lab = Lab("privops", "trap_emulate")
    regs = lab.machine.core.registers
    assert not regs.in_exception
    flags = []
    monitor = lab.machine.monitor
    real = monitor.interrupt

    def interrupt(vector, error_code, software):
        flags.append(regs.in_exception)
        real(vector, error_code, software)

    monkeypatch.setattr(monitor, "interrupt", interrupt)
    counter = lab.machine.core.blocks
    real_run = counter.run_exactly
    during = []

    def run_exactly(*args):  # (the trampoline's run, outside a slice)
        during.append(regs.in_exception)
        return real_run(*args)

    monkeypatch.setattr(counter, "run_exactly", run_exactly)
    lab.run()
    assert flags and all(flags)
    assert not regs.in_exception
    # a monitor's transition started inside a hook, outside a slice (the trampoline's IRETD
    # runs at once): that run writes EIP through Unicorn, and the hook's flag comes back after
    cpu = lab.machine.cpu
    regs.in_exception = True
    cpu.deprivilege(cpu.reg("cs"), lab.image.entry, cpu.reg("ss"), cpu.reg("esp"),
                    cpu.reg("eflags"))
    assert during[-1] is False and regs.in_exception is True
    regs.in_exception = False
    assert lab.state().eip == lab.image.entry  # (where the IRETD went)
    eip = lab.state().eip
    lab.machine.cpu.set_reg("eip", eip + 1)  # (outside a hook: through Unicorn)
    assert lab.state().eip == eip + 1


def test_an_exception_that_escapes_the_interrupt_hook_stops_the_core_and_is_raised(monkeypatch):
    """vlab adds its interrupt hook through Unicorn's C API: like Unicorn's own Python wrapper,
    an exception the hook lets through (here KeyboardInterrupt: not an error of the guest's)
    stops the core and comes out of the run, and the process goes on."""
    lab = Lab("privops", "trap_emulate")

    def interrupt(vector, error_code, software):
        raise KeyboardInterrupt("from the hook")

    monkeypatch.setattr(lab.machine.monitor, "interrupt", interrupt)
    with pytest.raises(KeyboardInterrupt, match="from the hook"):
        lab.run()
    lab.reset()
    monkeypatch.undo()
    assert lab.state().eip == lab.image.entry


@pytest.mark.parametrize("direction", ["in", "out"])
def test_an_exception_that_escapes_a_port_hook_stops_the_core_and_is_raised(monkeypatch,
                                                                            direction):
    """The IN and OUT hooks are added through the C API too: an exception they let through
    comes out of the run, as from Unicorn's own wrapper (nano-in reads a port; every guest
    writes its console through one)."""
    lab = Lab(image=nanobench.build("nano-in", 10), strategy="native", timer_period=0)

    def io(is_out, port, size, value):
        if is_out == (direction == "out"):
            raise KeyboardInterrupt(f"from the {direction} hook")
        return real(is_out, port, size, value)

    real = lab.machine.monitor.io
    monkeypatch.setattr(lab.machine.monitor, "io", io)
    with pytest.raises(KeyboardInterrupt, match=f"from the {direction} hook"):
        lab.run()


def test_the_trap_log_counts_exits_however_they_were_built():
    """Exits from the constructor, from Exit.made and from a template (Exit.from_fields, many
    sharing one tally): counts by reason and mnemonic, modelled cycles, callouts and inline
    emulations as counted one by one."""
    log = TrapLog(keep=50)
    made = [Exit(ExitReason.CLI, 0x1000, "te", 0, "cli", b"\xfa", cost=500, kind="trap")]
    made.append(Exit.made(ExitReason.IO_INSTRUCTION, 0x1002, "bt", 0, "out dx, al", b"\xee", 0,
                          "h", 700, 1, Exit(ExitReason.CLI, 0, "", 0).detail, "callout", None))
    template = dict(vars(made[0]))
    made += [Exit.from_fields(template, 0, i) for i in range(2, 300)]
    made.append(Exit(ExitReason.PUSHF, 0x1004, "bt", 0, "pushfd", b"\x9c", cost=3,
                     kind="inline_flags"))
    made.append(Exit(ExitReason.EXTERNAL_INTERRUPT, 0x1005, "te", 0, cost=300, kind="inject"))
    for e in made:
        log.record(e)
    assert log.total == len(made) == 302
    assert log.counts() == {"EXTERNAL_INTERRUPT": 1, "IO_INSTRUCTION": 1, "CLI": 299,
                            "PUSHF": 1}
    assert dict(log.by_instruction) == {"cli": 299, "out": 1, "pushfd": 1}
    assert log.cycles == sum(e.cost for e in made)
    assert (log.callouts, log.inline, log.entries) == (1, 1, 300)
    assert [e.index for e in log.recent][-3:] == [299, 0, 0] and len(log.recent) == 50
