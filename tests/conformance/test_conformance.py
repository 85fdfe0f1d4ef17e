"""The x86 conformance suite: small guests written from the Intel SDM, each stating the result
real hardware gives (programs/*.S; the header format is in programs.py).

Every program runs under native, trap_emulate, binary_translation and vtx, and its console must
equal the header's ``expect:``. Under a strategy the header names in ``diverges:`` (one of Robin
& Irvine's sensitive unprivileged instructions under trap_emulate, where the course says the hole
must show) the console must instead DIFFER from the expectation. A guest error (triple fault,
invalid opcode, budget exhausted) is a divergence, shown with its message.

paravirt runs the programs' paravirtual builds (conf.inc with ``--defsym PV=1``): that is
test_paravirt.py.

Where vlab does not yet behave as the SDM says, the case is listed in KNOWN_DIVERGENCES and marked
xfail(strict=True): the expectation stays the hardware's, and fixing vlab turns the case into an
XPASS failure, which means: remove it from the list.
"""

from __future__ import annotations

import functools
import signal

import pytest

from vlab.errors import VlabError
from vlab.lab import Lab

from .programs import build, parse_header, programs

STRATEGIES = ["native", "trap_emulate", "binary_translation", "vtx"]
BUDGET = 2_000_000
WALL_LIMIT = 5.0  # seconds: a run takes < 0.2 s; a monitor looping without retiring instructions
#                   (the budget counts retired ones) is stopped by this alarm
DISK_WALL_LIMIT = 20.0  # a program with a disk moves its data a word per I/O instruction, each an
#                         exit under the monitors: ata_count_zero's 128 KiB are 65,536 of them,
#                         1.5 s natively and 4 s under vtx

# (program, strategy) -> what vlab does instead of what the SDM says.
KNOWN_DIVERGENCES: dict[tuple[str, str], str] = {}


@functools.lru_cache(maxsize=None)
def _image(name: str):
    return build(_PATHS[name])


@functools.lru_cache(maxsize=None)
def _disk(name: str) -> int | None:
    """The sectors of the ATA disk the program's header asks for (``disk:``), or None."""
    return parse_header(_PATHS[name]).disk


_PATHS = {p.stem: p for p in programs()}


def run(name: str, strategy: str, options: dict | None = None) -> tuple[str, str | None]:
    """The console of a program run under strategy (with the disk its header asks for), and the
    guest error if it ended in one."""
    lab = Lab(image=_image(name), strategy=strategy, budget=BUDGET, strategy_options=options,
              disk=_disk(name))

    limit = WALL_LIMIT if _disk(name) is None else DISK_WALL_LIMIT

    def alarm(signum, frame):
        raise _WallLimit(f"no end after {limit} s of wall time "
                         f"({lab.instructions} instructions retired): a hang")

    previous = signal.signal(signal.SIGALRM, alarm)
    # then again every 0.25 s: an alarm that lands where a monitor swallows exceptions must
    # not let a livelocked run go on (seen once in CI)
    signal.setitimer(signal.ITIMER_REAL, limit, 0.25)
    try:
        lab.run()
    except (VlabError, _WallLimit) as e:
        return lab.console, f"{type(e).__name__}: {e}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return lab.console, None


class _WallLimit(Exception):
    pass


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
            f"{name} under {strategy}:\n--- expected ({header.reference})\n{header.expect}"
            f"--- got\n{shown}")


def test_a_vtx_guest_sees_a_hypervisor():
    """Under VT-x, CPUID exits and vlab's monitor answers as hypervisors do: the hypervisor bit
    set (leaf 1, ECX bit 31). (Its VMX bit: tests/test_vmx.py.)"""
    assert run("cpuid_leaf1", "vtx") == ("hypervisor bit = 0x00000001\n", None)


@pytest.mark.parametrize("name", sorted(n for n in _PATHS if n.startswith("pg_")))
def test_paging_program_under_vtx_with_shadow_page_tables(name: str):
    """VT-x without EPT walks the guest's tables through the same shadow pager as the software
    monitors: every paging program must behave as on hardware there too."""
    console, error = run(name, "vtx", {"ept": False})
    assert error is None and console == parse_header(_PATHS[name]).expect, (console, error)
