"""Foundations every strategy relies on, written from the specification (DESIGN.md, Intel SDM and
the tracker), through ``vlab.Lab``'s public API only:

1. the VMCS guest-state area holds the guest state saved at the last VM exit (SDM vol. 3, 27.3);
2. ``step_back`` restores everything, under every strategy (tracker item 2);
3. blocks first translated while the core ran free (uncounted) are counted when run again later
   (tracker item 3, DESIGN.md "Deterministic counting");
4. a run does not depend on how vlab counts: ``budget=None`` (free running where nothing can
   observe time) gives the same run as the default budget, except for the stretch that is
   uncounted by design.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.conftest import build
from vlab.lab import Lab

KERNEL_CS, USER_CS = 0x08, 0x2B
STRATEGIES = ["native", "trap_emulate", "binary_translation", "vtx", "paravirt"]


def _guest_for(strategy: str) -> str:
    return "kernel-pv" if strategy == "paravirt" else "kernel"


# ------------------------------------------------------------------------------------------------
# 1. VMCS guest state = the state at the last VM exit

#: VMCS guest-state fields and the CpuState attribute each one saves at a VM exit (SDM vol. 3,
#: 27.3.1 registers, 27.3.2 segment selectors and descriptor-table registers). GUEST_RIP is the
#: exit's guest EIP and is checked on its own.
SAVED_AT_EXIT = {
    "GUEST_ES_SELECTOR": lambda s: s.es,
    "GUEST_CS_SELECTOR": lambda s: s.cs,
    "GUEST_SS_SELECTOR": lambda s: s.ss,
    "GUEST_DS_SELECTOR": lambda s: s.ds,
    "GUEST_FS_SELECTOR": lambda s: s.fs,
    "GUEST_GS_SELECTOR": lambda s: s.gs,
    "GUEST_LDTR_SELECTOR": lambda s: s.ldtr,
    "GUEST_GDTR_BASE": lambda s: s.gdtr.base,
    "GUEST_GDTR_LIMIT": lambda s: s.gdtr.limit,
    "GUEST_IDTR_BASE": lambda s: s.idtr.base,
    "GUEST_IDTR_LIMIT": lambda s: s.idtr.limit,
    "GUEST_RSP": lambda s: s.esp,
    "GUEST_RFLAGS": lambda s: s.eflags.value,
}
GUEST_FIELDS = [*SAVED_AT_EXIT, "GUEST_RIP"]


def _vtx_kernel_to_ring3(read_vmcs_at_each_exit: bool):
    """Step the kernel under vtx until it enters its ring-3 task (IRETD: no exit under VT-x).
    Returns the lab, the last exit before that, ``state()`` right after that exit was handled,
    the VMCS guest fields as read then (or None) and how many steps followed without an exit."""
    lab = Lab("kernel", "vtx")
    total = lab.trace.total
    last = None
    quiet_steps = 0
    for _ in range(20_000):
        if lab.state().cs == USER_CS:
            break
        lab.step()
        if lab.trace.total != total:
            total = lab.trace.total
            fields = {f: lab.vmcs[f] for f in GUEST_FIELDS} if read_vmcs_at_each_exit else None
            last = (list(lab.trace)[-1], lab.state(), fields)
            quiet_steps = 0
        else:
            quiet_steps += 1
    assert lab.state().cs == USER_CS, "the kernel never reached its ring-3 task"
    assert last is not None
    exit_, at_exit, fields = last
    # the scenario: the last exit is an OUT (the console), whose handler changes no guest
    # register but EIP, and several instructions (segment loads, pushes, IRETD) follow with no exit
    assert exit_.reason.name == "IO_INSTRUCTION" and not exit_.qualification & 0x8, exit_
    assert at_exit.eip == exit_.eip + len(exit_.raw) and at_exit.cs == KERNEL_CS
    assert quiet_steps > 1 and lab.trace.total == total
    return lab, exit_, at_exit, fields, quiet_steps


def _assert_vmcs_is_exit_state(lab, exit_, at_exit):
    vmcs = {f: lab.vmcs[f] for f in GUEST_FIELDS}
    want = {f: get(at_exit) for f, get in SAVED_AT_EXIT.items()}
    want["GUEST_RIP"] = exit_.eip
    now = lab.state()
    wrong = {f: f"VMCS {vmcs[f]:#x}, at the exit {want[f]:#x}" for f in GUEST_FIELDS
             if vmcs[f] != want[f]}
    assert not wrong, (f"{len(wrong)} VMCS guest-state fields are not the state saved at the last "
                       f"VM exit (EIP {exit_.eip:#x}); the CPU now has CS={now.cs:#x} "
                       f"ESP={now.esp:#x} EIP={now.eip:#x}: {wrong}")


def test_vmcs_guest_state_is_the_state_at_the_last_exit():
    """Expected: after a VM exit, steps that cause no exit leave the VMCS guest-state area as the
    processor saved it at that exit: selectors, GDTR/IDTR base and limit, RSP, RFLAGS, and RIP =
    the exiting instruction's EIP (Intel SDM vol. 3, 27.3 "Saving guest state"; DESIGN.md: "the
    VMCS copies guest state *at the exit* and never reads the live CPU later"; tracker item 1).
    Scenario: the teaching kernel's last exit before its ring-3 task is an OUT to the serial port;
    it then loads DS..GS with the user selector and enters ring 3 with IRETD, which does not exit
    under VT-x, so the CPU's CS becomes 0x2B while the VMCS must still say 0x08. The VMCS is
    not read before the end (looking at it must not be what makes it right)."""
    lab, exit_, at_exit, _, _ = _vtx_kernel_to_ring3(read_vmcs_at_each_exit=False)
    _assert_vmcs_is_exit_state(lab, exit_, at_exit)


def test_vmcs_guest_state_does_not_depend_on_when_it_is_read():
    """Expected: reading the VMCS at each exit and again later gives the same guest-state fields,
    and the same as a lab whose VMCS was never read in between: a view observes, it never
    changes what it shows (SDM vol. 3, 27.3; DESIGN.md "Layers"; tracker item 1)."""
    lab, exit_, at_exit, fields_then, _ = _vtx_kernel_to_ring3(read_vmcs_at_each_exit=True)
    now = {f: lab.vmcs[f] for f in GUEST_FIELDS}
    assert now == fields_then, {f: (fields_then[f], now[f]) for f in now if now[f] != fields_then[f]}
    _assert_vmcs_is_exit_state(lab, exit_, at_exit)
    unread, *_ = _vtx_kernel_to_ring3(read_vmcs_at_each_exit=False)
    never_read = {f: unread.vmcs[f] for f in GUEST_FIELDS}
    assert never_read == now, ("the VMCS differs depending on whether it was read at the exit: "
                               + str({f: f"read at the exit {now[f]:#x}, never read {never_read[f]:#x}"
                                      for f in now if now[f] != never_read[f]}))


def test_vmcs_guest_state_after_run_until_ring3():
    """Expected: ``run(until="user_main")`` stops in the ring-3 task with no exit since the OUT
    before the IRETD, so GUEST_CS_SELECTOR is still the kernel's 0x08 and GUEST_RIP the EIP of
    the last exit (SDM vol. 3, 27.3.1 and 27.3.2; tracker item 1). Same bug as above, found
    through run() instead of step()."""
    lab = Lab("kernel", "vtx")
    lab.run(until="user_main")
    assert lab.state().cs == USER_CS
    last = list(lab.trace)[-1]
    assert last.reason.name == "IO_INSTRUCTION"
    assert (lab.vmcs["GUEST_CS_SELECTOR"], lab.vmcs["GUEST_RIP"]) == (KERNEL_CS, last.eip), (
        f"GUEST_CS_SELECTOR={lab.vmcs['GUEST_CS_SELECTOR']:#x} GUEST_RIP={lab.vmcs['GUEST_RIP']:#x}; "
        f"the last exit was at EIP {last.eip:#x} with CS {KERNEL_CS:#x}")


def test_vmcs_saves_tr_selector_at_exit():
    """Expected: GUEST_TR_SELECTOR holds the TR selector at the exit, as the other selectors do
    (SDM vol. 3, 27.3.2: "The selector fields are saved for ES, CS, SS, DS, FS, GS, LDTR, and
    TR"). The teaching kernel loads TR = 0x38 (LTR) before its CPUID, which exits.
    (Found while writing the tests for tracker item 1; not part of it.)"""
    lab = Lab("kernel", "vtx")
    lab.break_on_exit("CPUID")
    stop = lab.run()
    assert stop.reason == "exit" and lab.state().tr == 0x38
    assert lab.vmcs["GUEST_TR_SELECTOR"] == 0x38, (
        f"GUEST_TR_SELECTOR={lab.vmcs['GUEST_TR_SELECTOR']:#x}, TR at the exit 0x38")


# ------------------------------------------------------------------------------------------------
# 2. step_back restores everything, under every strategy

#: (strategy, guest, strategy options, prefixes to run before stepping)
CONFIGS = [
    ("native", "kernel", None, [0, 1500, 5000]),
    ("trap_emulate", "kernel", None, [0, 1500, 5000]),
    ("binary_translation", "kernel", None, [0, 1500, 5000]),
    ("vtx", "kernel", None, [0, 1500, 5000]),
    ("paravirt", "kernel-pv", None, [0, 1500, 5000]),
    ("binary_translation", "paging", None, [0, 3000, 50_000]),
    ("vtx", "paging", {"ept": False}, [0, 3000, 50_000]),
    ("vtx", "paging", {"ept": True}, [0, 3000, 50_000]),
]
CONFIG_IDS = [f"{s}-{g}" + ("" if o is None else f"-ept={o['ept']}") for s, g, o, _ in CONFIGS]


def _observe(lab: Lab) -> dict:
    """Everything a student, a view or the grader can see of a lab."""
    out = {
        "state()": lab.state(),
        "guest_view()": lab.guest_view(),
        "console": lab.console,
        "instructions": lab.instructions,
        "trace.counts()": lab.trace.counts(),
        "trace.total": lab.trace.total,
        "trace.cycles": lab.trace.cycles,
        "exit_code": lab.exit_code,
        "status": lab.status,
        "physical_memory()": lab.physical_memory(),
        "memory_summary()": lab.memory_summary(),
        "translation_stats()": lab.translation_stats(),
        "translations": [(b.address, b.end) for b in lab.translations],
    }
    if lab.vmcs is not None:
        out["vmcs.table()"] = [(r["field"], r["value"], r["changed"]) for r in lab.vmcs.table()]
    return out


def _differences(got: dict, want: dict) -> list[str]:
    diffs = []
    for key in want:
        a, b = got[key], want[key]
        if a == b:
            continue
        if key == "state()":
            diffs.append(f"state() {a.diff(b)} instructions {a.instructions}/{b.instructions} "
                         f"vtime {a.vtime}/{b.vtime}")
        elif key == "physical_memory()":
            first = next(i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)
            count = sum(x != y for x, y in zip(a, b, strict=False))
            diffs.append(f"physical_memory(): {count} bytes differ, first at {first:#x}")
        elif key == "vmcs.table()":
            diffs.append("vmcs.table() " + str([(x, y) for x, y in zip(a, b, strict=False) if x != y][:6]))
        else:
            diffs.append(f"{key}: {a!r:.200} != {b!r:.200}")
    return diffs


def _lab(strategy, guest, options, prefix, steps):
    lab = Lab(guest, strategy, strategy_options=options)
    if prefix:
        lab.run(max_instructions=prefix)
    for _ in range(steps):
        lab.step()
    return lab


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_step_back_after_run_and_steps(strategy):
    """Expected: ``run(max_instructions=5000)``, 300 ``step()``s, then 40 ``step_back()``s works
    (no error) and leaves the lab exactly as a fresh lab after the run and 260 steps; 40 steps
    forward again give the lab after 300 steps. Reverse stepping restores the whole machine,
    including the monitor's virtual CPU (tracker item 2: under trap_emulate the 40 step_backs
    raised GuestHang, the virtual CPU not being part of the snapshot)."""
    guest = _guest_for(strategy)
    lab = _lab(strategy, guest, None, 5000, 300)
    for _ in range(40):
        lab.step_back()
    diffs = _differences(_observe(lab), _observe(_lab(strategy, guest, None, 5000, 260)))
    assert not diffs, "after 40 step_backs: " + "; ".join(diffs)
    for _ in range(40):
        lab.step()
    diffs = _differences(_observe(lab), _observe(_lab(strategy, guest, None, 5000, 300)))
    assert not diffs, "after 40 step_backs and 40 steps: " + "; ".join(diffs)


def _n_and_k():
    return st.integers(1, 400).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, min(n, 60))))


@pytest.mark.parametrize("strategy,guest,options,prefixes", CONFIGS, ids=CONFIG_IDS)
@settings(max_examples=15, deadline=None, database=None, derandomize=True,
          phases=(Phase.explicit, Phase.generate),  # no shrinking: keep a red run short
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_step_back_property(strategy, guest, options, prefixes, data):
    """Expected, for any n in 1..400 and k in 1..min(n, 60), after the same run(max_instructions=)
    prefix: a lab that did n steps then k step_backs equals, field by field (state(), guest_view(),
    console, instructions, the trace's counts, total and modelled cycles, exit code, status, every
    byte of physical memory, the VMCS table, the translated blocks, the translation-cache and MMU
    counters), a fresh lab after n - k steps; after k more steps it equals a fresh lab after n
    steps. Reverse stepping is part of the machine, so nothing may tell a replayed step from a
    first one (tracker item 2; DESIGN.md "Deterministic counting": identical through step_back).
    Covers shadow page tables (binary translation; vtx without EPT) and EPT with the "paging"
    guest."""
    prefix = data.draw(st.sampled_from(prefixes), label="prefix")
    n, k = data.draw(_n_and_k(), label="n, k")
    lab = _lab(strategy, guest, options, prefix, n)
    for _ in range(k):
        lab.step_back()
    diffs = _differences(_observe(lab), _observe(_lab(strategy, guest, options, prefix, n - k)))
    assert not diffs, f"prefix={prefix} n={n}, after {k} step_backs vs {n - k} steps: " + "; ".join(diffs)
    for _ in range(k):
        lab.step()
    diffs = _differences(_observe(lab), _observe(_lab(strategy, guest, options, prefix, n)))
    assert not diffs, (f"prefix={prefix} n={n}, {k} step_backs and {k} steps vs {n} steps: "
                       + "; ".join(diffs))


# ------------------------------------------------------------------------------------------------
# 3. blocks translated during an uncounted slice are counted later

N1, N2, PERIOD = 200, 10_000, 1000
HANDLER = 6  # instructions of the guest's timer handler (tests/guests/uncounted_blocks.S)
THROUGH_UNMASK = 18 + 2 * N1 + 2  # retired up to and including the unmasking OUT (ARM_TIMER: +2)
THROUGH_ARMING = THROUGH_UNMASK - 4  # ... up to and including the OUT that starts the timer


def _exact_instructions(ticks: int) -> int:
    """Instructions the guest retires, by construction (see the comment in its source)."""
    return THROUGH_UNMASK + (4 + 2 * N2 + HANDLER * ticks) + 4


@pytest.mark.parametrize("strategy", ["native", "binary_translation", "vtx"])
def test_blocks_translated_uncounted_are_counted_later(strategy):
    """Expected: with no budget and the timer stopped nothing can observe time, so vlab runs the
    core free; once the guest starts its timer every instruction counts, also those of blocks
    first translated during the free stretch (DESIGN.md "Deterministic counting": Unicorn never
    revisits a block translated without its counting hook; tracker item 3).
    The guest (tests/guests/uncounted_blocks.S, built with ARM_TIMER=P) runs a loop N1 times
    round with the timer stopped, then starts it (period P), unmasks IRQ0 and runs the same loop
    code N2 times round: the second phase must take (its instructions) / P ticks, within 1, not
    0. With a budget everything is counted and `instructions` is the exact count computed from
    the guest; with budget=None too with the native block counter, while Unicorn's count= mode
    leaves out the instructions retired through the OUT that starts the timer (uncounted by
    design)."""
    image = build("uncounted_blocks", N1=N1, N2=N2, ARM_TIMER=PERIOD)
    counted = Lab(image=image, strategy=strategy, timer_period=0)
    counted.run()
    assert counted.status == "halted" and counted.read_u32("ticks_phase1") == 0
    ticks = counted.read_u32("ticks_total")
    phase2 = 4 + 2 * N2 + HANDLER * ticks
    assert abs(ticks - phase2 // PERIOD) <= 1, (ticks, phase2)
    assert counted.instructions == _exact_instructions(ticks)

    free = Lab(image=image, strategy=strategy, timer_period=0, budget=None)
    free.run()
    assert free.status == "halted" and free.read_u32("ticks_phase1") == 0
    ticks = free.read_u32("ticks_total")
    phase2 = 4 + 2 * N2 + HANDLER * ticks
    assert abs(ticks - phase2 // PERIOD) <= 1, (
        f"budget=None: {ticks} timer ticks in phase 2, virtual time implies {phase2 // PERIOD} "
        f"(period {PERIOD}, {phase2} instructions); instructions={free.instructions}")
    # (Unicorn's count= mode leaves the free stretch uncounted; the native block counter counts
    # every instruction, running free or not)
    uncounted = THROUGH_ARMING if free.machine.core.blocks is None else 0
    assert free.instructions == _exact_instructions(ticks) - uncounted


def test_a_masked_timer_still_observes_time():
    """Expected: an 8259 latches IRQ0 in its request register while the line is masked, so a
    guest that unmasks it after more than a period takes the tick at once (Intel 8259A data
    sheet, "Interrupt Mask Register": masking inhibits the interrupt, not its request). The same
    guest with the timer running from power-on (period P) and phase 1 longer than P:
    budget=None and a budget give the same ticks, instructions and registers (vlab may not run
    the core free while a masked timer is running)."""
    image = build("uncounted_blocks", N1=2 * PERIOD, N2=N2)
    runs = [Lab(image=image, strategy="native", timer_period=PERIOD, budget=b)
            for b in (None, 10**8)]
    for lab in runs:
        lab.run()
        assert lab.status == "halted"
    free, counted = runs
    assert counted.read_u32("ticks_phase1") == 0  # masked: nothing delivered in phase 1
    assert free.read_u32("ticks_total") == counted.read_u32("ticks_total") > 0
    assert free.instructions == counted.instructions
    assert free.state().registers == counted.state().registers


# ------------------------------------------------------------------------------------------------
# 4. a run does not depend on how vlab counts

@pytest.mark.parametrize("strategy", STRATEGIES)
def test_kernel_run_does_not_depend_on_budget(strategy):
    """Expected: the teaching kernel gives the same console, exit code, exits by reason, final
    registers, memory and instruction count with ``budget=None`` as with the default budget:
    virtual time, and so where each interrupt lands, must not depend on how vlab counts
    (DESIGN.md "The five strategies": interrupts arrive at the same guest instruction;
    "Deterministic counting"). The timer runs from power-on (period 10,000), masked until the
    kernel unmasks it, so time is observable throughout and every instruction is counted."""
    guest = _guest_for(strategy)
    counted, free = Lab(guest, strategy), Lab(guest, strategy, budget=None)
    counted.run()
    free.run()
    assert counted.status == free.status == "halted"
    assert free.console == counted.console
    assert free.exit_code == counted.exit_code
    assert free.trace.counts() == counted.trace.counts()
    assert free.state().registers == counted.state().registers
    assert free.physical_memory() == counted.physical_memory()
    assert free.instructions == counted.instructions


def test_a_table_register_prints_in_hex_wherever_it_appears():
    """GDTR/IDTR values show in the trace's recorded changes (a dict of tuples, printed with
    repr): addresses in hex there too, never 4294901760."""
    from vlab.state import TableRegister

    changes = {"GDTR": (TableRegister(0, 0), TableRegister(0xFFFF_0000, 0x3F))}
    assert repr(changes) == ("{'GDTR': (TableRegister(base=0x00000000, limit=0x0000), "
                             "TableRegister(base=0xffff0000, limit=0x003f))}")
    assert TableRegister(0xFFFF_0000, 0x3F) == TableRegister(0xFFFF_0000, 0x3F)
