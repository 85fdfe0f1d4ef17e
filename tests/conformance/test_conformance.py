"""The x86 conformance suite: small guests written from the Intel SDM, each stating the result
real hardware gives (programs/*.S; the header format is in programs.py).

Every program runs under native, trap_emulate, binary_translation and vtx, and its console must
equal the header's ``expect:``. Under a strategy the header names in ``diverges:`` (one of Robin
& Irvine's sensitive unprivileged instructions under trap_emulate, where the course says the hole
must show) the console must instead DIFFER from the expectation. A guest error (triple fault,
invalid opcode, budget exhausted) is a divergence, shown with its message.

paravirt is not run: it needs the guests' PV builds (the hypercall ABI), which these
bare-hardware programs do not have.

Where vlab does not yet behave as the SDM says, the case is listed in KNOWN_DIVERGENCES and marked
xfail(strict=True): the expectation stays the hardware's, and fixing vlab turns the case into an
XPASS failure, which means: remove it from the list.
"""

from __future__ import annotations

import functools

import pytest

from vlab.errors import VlabError
from vlab.lab import Lab

from .programs import build, parse_header, programs

STRATEGIES = ["native", "trap_emulate", "binary_translation", "vtx"]
BUDGET = 2_000_000

# (program, strategy) -> what vlab does instead of what the SDM says.
KNOWN_DIVERGENCES: dict[tuple[str, str], str] = {}


@functools.lru_cache(maxsize=None)
def _image(name: str):
    return build(_PATHS[name])


_PATHS = {p.stem: p for p in programs()}


def run(name: str, strategy: str) -> tuple[str, str | None]:
    """The console of a program run under strategy, and the guest error if it ended in one."""
    lab = Lab(image=_image(name), strategy=strategy, budget=BUDGET)
    try:
        lab.run()
    except VlabError as e:
        return lab.console, f"{type(e).__name__}: {e}"
    return lab.console, None


def _cases():
    for name in _PATHS:
        for strategy in STRATEGIES:
            marks = []
            why = KNOWN_DIVERGENCES.get((name, strategy))
            if why:
                marks.append(pytest.mark.xfail(strict=True, reason=why))
            yield pytest.param(name, strategy, marks=marks, id=f"{name}-{strategy}")


def test_known_divergences_name_real_cases():
    for name, strategy in KNOWN_DIVERGENCES:
        assert name in _PATHS and strategy in STRATEGIES, (name, strategy)


def test_enough_programs():
    assert len(_PATHS) >= 80


@pytest.mark.parametrize("name,strategy", list(_cases()))
def test_program(name: str, strategy: str):
    header = parse_header(_PATHS[name])
    console, error = run(name, strategy)
    shown = console + (f"[guest error] {error}\n" if error else "")
    if strategy in header.diverges:
        assert error is not None or console != header.expect, (
            f"{name} under {strategy}: the course says this must diverge "
            f"({header.diverges[strategy]}), but the console equals the hardware's")
    else:
        assert error is None and console == header.expect, (
            f"{name} under {strategy}:\n--- expected (SDM: {header.sdm})\n{header.expect}"
            f"--- got\n{shown}")
