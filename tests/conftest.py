"""Shared helpers: build the test guests in tests/guests/ and run them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from vlab.errors import VlabError
from vlab.isa import assemble
from vlab.lab import Lab

GUESTS = Path(__file__).parent / "guests"


def build(name: str, **defines: int):
    return assemble((GUESTS / f"{name}.S").read_text(), name, defines=defines)


def run_outcome(lab: Lab) -> tuple:
    """Run ``lab`` to its end and return all a student can see of it: where and why it stopped
    (or the error), instructions, timer ticks, registers, console, status, exits by reason, and
    a hash of every byte of guest RAM (for runs that must end the same two ways)."""
    try:
        end = str(lab.run())
    except VlabError as e:
        end = f"{type(e).__name__}: {e}"
    ram = hashlib.sha256(bytes(lab.machine.memory.buffer)).hexdigest()
    return (end, lab.instructions, lab.timer_ticks, lab.state().registers, lab.console,
            lab.status, lab.trace.counts(), ram)


def lab_of(name: str, strategy: str = "native", **defines: int) -> Lab:
    return Lab(image=build(name, **defines), strategy=strategy)


def assert_same_as_native(guest: str, strategy: str) -> None:
    """The guest under ``strategy`` ends exactly as natively: console, instructions retired,
    registers and every byte of RAM."""
    a, b = Lab(guest, "native"), Lab(guest, strategy)
    a.run()
    b.run()
    assert b.status == "halted"
    assert b.console == a.console and b.instructions == a.instructions
    assert b.state().registers == a.state().registers
    assert b.physical_memory() == a.physical_memory()


@pytest.fixture(scope="session")
def native_kernel() -> Lab:
    lab = Lab("kernel", "native")
    lab.run()
    return lab
