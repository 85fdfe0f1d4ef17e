"""Exact virtual time: vlab's native block counter against Unicorn's count= mode.

vlab counts the guest's instructions either with Unicorn's ``count=`` mode (a helper before
every instruction) or with its native block counter (vlab/hw/blocks.py: a C hook per translation
block, the tail of a block run up to a stop hook). Virtual time is what the guest can observe
(timer interrupts arrive every ``timer_period`` instructions, SDM-style interrupt windows after
STI and MOV SS), so both counters must stop every run at exactly the same instruction: the
budget, the timer, ``run(max_instructions=)``, breakpoints and single steps. The guests:
tests/guests/counting.S (REP strings, MOV SS and STI shadows, HLT, #DE, #UD, INT n, I/O and CPUID
inside blocks, self-modifying code) and the course kernel under all five strategies.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from contextlib import contextmanager

import pytest
import unicorn
from conftest import build

from vlab.errors import BudgetExhausted, EngineError
from vlab.hw import blocks
from vlab.lab import Lab

STRATEGIES = ("native", "trap_emulate", "binary_translation", "vtx")
KERNELS = [("native", "kernel"), ("trap_emulate", "kernel"), ("binary_translation", "kernel"),
           ("vtx", "kernel"), ("paravirt", "kernel-pv")]


@contextmanager
def counting(kind: str):
    """Machines made inside count with ``kind`` ("units": count=, "blocks": native)."""
    before = os.environ.get("VLAB_COUNTING")
    os.environ["VLAB_COUNTING"] = kind
    blocks.mode.cache_clear()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("VLAB_COUNTING", None)
        else:
            os.environ["VLAB_COUNTING"] = before
        blocks.mode.cache_clear()


def pair(*args, **kwargs) -> tuple[Lab, Lab]:
    """The same lab twice: counted by count= mode, and by the native block counter."""
    with counting("units"):
        units = Lab(*args, **kwargs)
    with counting("blocks"):
        native = Lab(*args, **kwargs)
    assert units.machine.core.blocks is None and native.machine.core.blocks is not None
    return units, native


def observed(lab: Lab, stop) -> tuple:
    """What the guest and a student can see after a run: where and why it stopped, the
    instructions retired, timer ticks, every register, the console."""
    return (str(stop), lab.instructions, lab.timer_ticks, lab.state().registers, lab.console,
            lab.status)


def run(lab: Lab, **kwargs):
    try:
        return lab.run(**kwargs)
    except BudgetExhausted as e:
        return f"BudgetExhausted: {e}"


def test_the_native_counter_is_built_and_used():
    """The set-up commands install a C compiler, so machines count with the native counter
    (VLAB_COUNTING=units, which CI never sets, would choose count= mode)."""
    kind, how = blocks.mode()
    assert kind == "blocks", how
    assert Lab("kernel").machine.core.blocks is not None


def test_without_a_compiler_count_mode_is_chosen_and_says_why(tmp_path):
    """No C compiler and nothing built yet: vlab falls back to Unicorn's count= mode on its own
    (and says why), and the kernel runs the same; asking for the native counter is an error
    that says what to install."""
    tools = tmp_path / "bin"  # the guest assembler's tools, and no C compiler
    tools.mkdir()
    for tool in ("as", "ld", "nm", "objcopy"):
        (tools / tool).symlink_to(shutil.which(tool))
    env = {**os.environ, "PATH": str(tools), "CC": "", "VLAB_CACHE": str(tmp_path / "cache"),
           "VLAB_COUNTING": "auto"}
    script = ("from vlab.hw import blocks; from vlab.lab import Lab\n"
              "print(blocks.mode())\n"
              "lab = Lab('kernel'); lab.run()\n"
              "print(lab.machine.core.blocks is None, lab.instructions, repr(lab.console))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    mode_line, result = out.stdout.strip().splitlines()
    assert mode_line.startswith("('units',") and "no C compiler" in mode_line, mode_line
    reference = Lab("kernel")
    reference.run()
    assert result == f"True {reference.instructions} {reference.console!r}"

    env["VLAB_COUNTING"] = "blocks"
    out = subprocess.run([sys.executable, "-c", "from vlab.lab import Lab; Lab('kernel')"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode != 0 and "VLAB_COUNTING=blocks, but no C compiler" in out.stderr
    assert "install gcc" in out.stderr


def test_an_unknown_counter_is_refused_by_name():
    with counting("fast"), pytest.raises(EngineError, match="VLAB_COUNTING='fast' is not one of"):
        blocks.mode()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_timer_ticks_land_on_the_same_instructions(strategy):
    """For timer periods that put the ticks at every kind of instruction (inside REP strings,
    STI and MOV SS shadows, HLT, after faults, around self-modifying code), both counters run
    the guest to the same end: instructions, ticks, registers, console."""
    image = build("counting", APART=1)
    for period in range(7, 64, 4):
        units, native = pair(image=image, strategy=strategy, timer_period=period)
        a, b = run(units), run(native)
        assert observed(native, b) == observed(units, a), f"timer period {period}"
        assert native.status == "halted" and native.read_u32("result") == 1970169177


@pytest.mark.parametrize("way", ["core-part", "exit-list", "python"])
@pytest.mark.parametrize("strategy", ["native", "binary_translation"])
def test_every_way_of_running_a_blocks_part_agrees_with_count_mode(strategy, way, monkeypatch):
    """The part of a block before a deadline runs inside the native hook, either as the core's
    own block of that many instructions (QEMU's instruction limit for the next block, where
    the engine probe found it) or up to an address on Unicorn's exit list; or, as a fallback,
    from Python up to a stop hook. Each way alone, timer ticks and cut runs land where count=
    mode puts them; the way asked for is the one taken."""
    monkeypatch.setattr(blocks, "NATIVE_TAILS", way != "python")
    monkeypatch.setattr(blocks, "COUNTED_PARTS", way == "core-part")
    image = build("counting", APART=1)
    for period in (7, 13, 22):
        units, native = pair(image=image, strategy=strategy, timer_period=period)
        rng = random.Random(period)
        while units.status != "halted":
            k = rng.randint(1, 90)
            a, b = run(units, max_instructions=k), run(native, max_instructions=k)
            assert observed(native, b) == observed(units, a), (way, period, units.instructions)
        state = native.machine.core.blocks.state
        assert (state.tails > 0) == (way != "python"), state.tails
        assert (state.parts > 0) == (way == "core-part"), state.parts


@pytest.mark.parametrize("way", ["core-part", "exit-list", "python"])
def test_a_store_into_its_own_part_retires_once_wherever_the_deadline_falls(way, monkeypatch):
    """smc_behind's store rewrites an earlier byte of its own block; with a deadline right after
    it, the part run before the deadline ends with the store, which the core abandons and runs
    again as a block of its own. Slices of every length from 1 to 12, and single steps, retire
    exactly what one run to the end retires (count= mode itself counts such a store twice)."""
    monkeypatch.setattr(blocks, "NATIVE_TAILS", way != "python")
    monkeypatch.setattr(blocks, "COUNTED_PARTS", way == "core-part")
    image = build("smc_behind")
    whole = Lab(image=image, strategy="native")
    whole.run()
    assert whole.exit_code == 0 and whole.instructions == 4 + 8 * 6
    for k in [*range(1, 13), None]:
        lab = Lab(image=image, strategy="native")
        while lab.status != "halted":
            lab.step() if k is None else lab.run(max_instructions=k)
        assert (lab.instructions, lab.state().registers) == \
            (whole.instructions, whole.state().registers), k


def test_a_blocks_part_is_translated_once_and_kept_beside_the_whole_block():
    """A timer tick every 1,001 instructions in a loop of one block (uncounted_blocks' spin, in
    its second phase): each tick runs the part of the block before it, then the rest after the
    handler. As the core's own block of that many instructions, each part is translated the
    first time only (the loop has few offsets) and the whole block stays translated: a few
    translations for hundreds of ticks, where with Unicorn's exit list the core translates
    again at every tick."""
    def translations(counted_parts: bool) -> tuple[int, int]:
        blocks.COUNTED_PARTS = counted_parts
        try:
            lab = Lab(image=build("uncounted_blocks", N1=10, N2=150_000), strategy="native",
                      timer_period=1001)
        finally:
            blocks.COUNTED_PARTS = True
        made = []
        lab.machine.core.uc.hook_add(unicorn.UC_HOOK_EDGE_GENERATED,
                                     lambda _uc, cur, _prev, _d: made.append(cur.pc))
        lab.run()
        assert lab.exit_code == 0
        return len(made), lab.read_u32("ticks_total")

    parts, ticks = translations(True)
    exits, same_ticks = translations(False)
    assert ticks == same_ticks >= 290
    assert exits >= ticks and parts < 20, (parts, exits, ticks)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_deadline_stops_at_the_same_instruction(strategy):
    """``run(max_instructions=k)`` for every k over the first two rounds of the guest (every
    offset of a deadline inside every block), then runs of random lengths to the end: both
    counters stop at the same instruction with the same registers and count."""
    image = build("counting", APART=1)
    for k in range(1, 260, 1 if strategy == "native" else 3):
        units, native = pair(image=image, strategy=strategy, timer_period=37)
        a, b = run(units, max_instructions=k), run(native, max_instructions=k)
        assert observed(native, b) == observed(units, a), f"max_instructions={k}"
    for seed in range(4):
        rng = random.Random(seed)
        units, native = pair(image=image, strategy=strategy, timer_period=29)
        while units.status != "halted":
            k = rng.randint(1, 40)
            a, b = run(units, max_instructions=k), run(native, max_instructions=k)
            assert observed(native, b) == observed(units, a), (seed, units.instructions)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_single_steps_and_breakpoints_agree(strategy):
    """Single steps (each one instruction, or one exception delivered) and breakpoints stop both
    counters at the same place, with the same count."""
    image = build("counting", APART=1)
    units, native = pair(image=image, strategy=strategy, timer_period=23)
    for _ in range(400):
        a, b = units.step(), native.step()
        assert observed(native, b) == observed(units, a)
    units, native = pair(image=image, strategy=strategy, timer_period=23)
    for lab in (units, native):
        for label in ("flip", "patched", "tick", "skip_ud2"):
            lab.add_breakpoint(image.symbols[label])
    for _ in range(60):
        a, b = run(units), run(native)
        assert observed(native, b) == observed(units, a)
        if units.status == "halted":
            break
    assert units.status == "halted"


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_budget_ends_the_run_at_the_same_instruction(strategy):
    image = build("counting", APART=1)
    for budget in (1, 97, 389):
        units, native = pair(image=image, strategy=strategy, timer_period=31, budget=budget)
        a, b = run(units), run(native)
        assert a.startswith("BudgetExhausted") and observed(native, b) == observed(units, a)


@pytest.mark.parametrize(("strategy", "guest"), KERNELS)
def test_the_kernel_runs_the_same_under_both_counters(strategy, guest):
    """The course kernel, timer armed: console, instructions, ticks, registers, exits and their
    costs identical under both counters, at the end and at 40 random deadlines on the way."""
    units, native = pair(guest, strategy)
    rng = random.Random(strategy)
    while units.status != "halted":
        k = rng.randint(1, 600)
        a, b = run(units, max_instructions=k), run(native, max_instructions=k)
        assert observed(native, b) == observed(units, a), units.instructions
        assert native.trace.counts() == units.trace.counts()
        assert native.trace.cycles == units.trace.cycles


def test_a_store_into_the_running_block_retires_once_under_every_strategy():
    """A guest store into the block being executed: the core abandons the block before the
    store and runs the store again in a block of its own. The native counter counts what
    retired, the store once (count= mode counts its first attempt too, and so depends on where
    the core happens to cut blocks). Every strategy then retires the same instructions, and
    single steps add up to the run."""
    image = build("counting")
    with counting("blocks"):
        results = set()
        for strategy in STRATEGIES:
            lab = Lab(image=image, strategy=strategy, timer_period=37)
            lab.run()
            assert lab.status == "halted" and lab.read_u32("result") == 1970169177
            results.add((lab.instructions, lab.timer_ticks))
        assert len(results) == 1, results
        stepped = Lab(image=image, strategy="native", timer_period=37)
        while stepped.status != "halted":
            stepped.step()
        assert (stepped.instructions, stepped.timer_ticks) in results


def _profile(lab: Lab) -> dict[int, int]:
    return {b.address: b.executions for b in lab.translations}


@pytest.mark.parametrize("guest", ["kernel", "counting"])
def test_a_translators_block_profile_is_the_same_counted_natively_or_by_hooks(guest):
    """Binary translation's per-block execution counts (``profile``): with the native counter
    they are marks that its block hook adds to (no hook per block), with count= mode a hook on
    each block's first instruction. Both give every block the same count, at the end and after
    each of many runs cut at random deadlines (a block cut short by a deadline, a fault, a
    callout that moves EIP, or a translator's block that Unicorn's block runs straight into).
    An interrupt taken right before a block's first instruction is not an execution of it."""
    image = build("counting", APART=1) if guest == "counting" else None
    args = dict(image=image) if image is not None else dict(guest=guest)
    options = {"profile": True}
    units, native = pair(**args, strategy="binary_translation", strategy_options=options,
                         timer_period=41)
    rng = random.Random(guest)
    while units.status != "halted":
        k = rng.randint(1, 300)
        a, b = run(units, max_instructions=k), run(native, max_instructions=k)
        assert observed(native, b) == observed(units, a)
        assert _profile(native) == _profile(units), units.instructions
    counts = _profile(native)
    assert sum(counts.values()) > 60 and all(n is not None for n in counts.values())
    # and one run to the end, uncut
    units, native = pair(**args, strategy="binary_translation", strategy_options=options,
                         timer_period=41)
    run(units), run(native)
    assert _profile(native) == _profile(units) and sum(_profile(native).values()) > 60
    if guest == "counting":  # its block that starts with UD2 ran once per #UD, whatever the
        faulted = [e for e in native.trace if e.detail.get("vector") == 6]  # timer interrupts
        (at,) = {e.eip for e in faulted}  # taken right before it (the trace shows them too)
        interrupted = [e for e in native.trace if e.eip == at and e.reason.name ==
                       "EXTERNAL_INTERRUPT"]
        assert len(faulted) == _profile(native)[at] > 1 and interrupted
