"""Fuzzing (hypothesis, deterministic): random bytes and random instruction sequences as guests
under every strategy end in a halt or a specific vlab error, never a crash or a hang; sequences
of innocuous instructions, and of sensitive ones too, end in the same state under native,
binary translation and VT-x."""

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzzing import LABELS, STRATEGIES, program, run_guest
from vlab.errors import VlabError
from vlab.isa import InsnClass, decoder
from vlab.lab import Lab

CASES = int(os.environ.get("VLAB_FUZZ_CASES", "1000"))  # per generator and strategy (x2 kinds)
FUZZ = settings(max_examples=CASES, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))

random_bytes = st.binary(min_size=1, max_size=48)
instructions = st.lists(st.tuples(st.integers(0, len(LABELS) - 1), st.integers(0, 40)),
                        min_size=1, max_size=14)


@pytest.mark.parametrize("strategy", STRATEGIES)
@FUZZ
@given(code=random_bytes)
def test_random_bytes(strategy, code):
    run_guest(code, strategy)


@pytest.mark.parametrize("strategy", STRATEGIES)
@FUZZ
@given(choices=instructions)
def test_random_instruction_sequences(strategy, choices):
    run_guest(program(choices), strategy)


# ------------------------------------------------------------------------------ differential
INNOCUOUS = [i for i, label in enumerate(LABELS)
             if label.split(":")[0] in ("mov eax", "mov ebx", "mov ecx", "mov edx", "add", "xor",
                                        "push", "pop", "store", "load", "jmp", "call")]
SENSITIVE = [i for i, label in enumerate(LABELS)
             if label in ("pushfd", "popfd", "sgdt", "sidt", "sldt", "str", "smsw", "mov cs",
                          "mov ss", "push cs", "push ds", "lar", "lsl", "verr", "verw", "cli",
                          "sti", "mov cr0r", "mov cr3r", "mov cr3w", "pushfw", "popfw",
                          "push cs16", "pop ds16", "lar tss", "lsl cx")]


def _final(code: bytes, strategy: str):
    lab = Lab(image=code, strategy=strategy, budget=3000)
    # the stack away from the code: a POP/POPF at the boot stack would read the program's own
    # bytes and the next PUSH rewrite the block being executed (QEMU's restart of such a block
    # is an emulator artifact, not a behaviour of the strategies compared)
    lab.machine.cpu.set_reg("esp", 0x80000)
    try:
        lab.run()
    except VlabError as e:
        outcome = type(e).__name__
    else:
        outcome = lab.status
    st_ = lab.state()
    regs = dict(st_.registers)
    flags = st_.eflags.value & 0x8D5  # the arithmetic flags (IF/IOPL are the monitor's)
    return outcome, regs, flags, lab.physical_memory(), lab.instructions


def _differential(choices, strategies=("binary_translation", "vtx")):
    code = program(choices)
    ref = _final(code, "native")
    # A program that overwrites its own code in the block being executed makes QEMU restart
    # that block, and Unicorn's counter counts the storing instruction twice: instruction
    # counts (virtual time) can then differ by one. Everything else must still be equal.
    self_modifying = ref[3][0x100000:0x100000 + len(code)] != code
    for strategy in strategies:
        got = _final(code, strategy)
        assert got[0] == ref[0], (strategy, code.hex(), got[0], ref[0])
        if self_modifying and ref[0] == "BudgetExhausted":
            continue  # one instruction apart at the budget: only the outcome is comparable
        if ref[0] in ("halted", "BudgetExhausted"):
            assert got[1:3] == ref[1:3], (strategy, code.hex(), "registers or flags differ")
            assert got[3] == ref[3], (strategy, code.hex(), "memory differs")
            if not self_modifying:
                assert got[4] == ref[4], (strategy, code.hex(), "instruction counts differ")


@settings(max_examples=max(100, CASES // 5), derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.sampled_from(INNOCUOUS), st.integers(0, 40)), min_size=1, max_size=14))
def test_innocuous_sequences_end_in_the_same_state(choices):
    _differential(choices)


@settings(max_examples=max(100, CASES // 5), derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.sampled_from(INNOCUOUS + SENSITIVE), st.integers(0, 40)),
                min_size=1, max_size=14))
def test_sensitive_sequences_still_equal_native(choices):
    _differential(choices)


#: Privileged instructions trap at ring 1 and are emulated: no hole among them.
PRIVILEGED = [i for i, label in enumerate(LABELS)
              if label in ("cli", "sti", "mov cr0r", "mov cr3r", "mov cr3w", "wbinvd",
                           "cpuid")]


@settings(max_examples=max(100, CASES // 5), derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.sampled_from(INNOCUOUS + PRIVILEGED), st.integers(0, 40)),
                min_size=1, max_size=14))
def test_trap_and_emulate_equals_native_away_from_the_holes(choices):
    """The course's claim: trap-and-emulate diverges only at the virtualization holes; a stream
    of ordinary and privileged (trapping) instructions ends exactly as natively."""
    _differential(choices, ("trap_emulate",))


def test_the_pool_covers_every_class():
    from tests.fuzzing import POOL

    classes = {decoder().decode(code, 0x100000).klass for code in POOL.values()}
    assert classes == set(InsnClass)
