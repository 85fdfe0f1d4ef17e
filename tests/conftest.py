"""Shared helpers: build the test guests in tests/guests/ and run them."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlab.isa import assemble
from vlab.lab import Lab

GUESTS = Path(__file__).parent / "guests"


def build(name: str, **defines: int):
    return assemble((GUESTS / f"{name}.S").read_text(), name, defines=defines)


def lab_of(name: str, strategy: str = "native", **defines: int) -> Lab:
    return Lab(image=build(name, **defines), strategy=strategy)


@pytest.fixture(scope="session")
def native_kernel() -> Lab:
    lab = Lab("kernel", "native")
    lab.run()
    return lab
