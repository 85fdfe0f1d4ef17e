"""The conformance suite under paravirtualization (Xen's x86-32 PV model, vlab/strategies/paravirt).

Each program has a paravirtual build: conf.inc's PV form (``build(path, {"PV": 1})``), in which
the program's kernel part runs in ring 1 and sets itself up with hypercalls (set_gdt,
set_trap_table, stack_switch; console_io, sched_op, iret). That build runs under the strategy
paravirt and must print the header's ``expect``: what is tested (an exception raised by an
unprivileged instruction and delivered through the trap table, a ring-3 task, a segment load,
a 16-bit operand form, self-modifying code, the hardware's page walk over page tables the
hypervisor validated ...) is the hardware's, under the hypervisor too.

A program whose subject a paravirtual kernel does not own (the IDT's gates, control registers,
MSRs, the TSS, STI/CLI, ring 0 itself ...) says ``paravirt: n/a <why>`` in its header. For it
the check is the other half of the PV bargain: its unmodified image is refused by paravirt (the
hypervisor answers hypercalls, it does not emulate privileged instructions), so the image is
not universal.

The PV build runs on the same core as native: where the core is not yet the SDM's (native's
entries in test_conformance.KNOWN_DIVERGENCES), its PV run diverges the same way and is marked
xfail(strict=True) here too.
"""

from __future__ import annotations

import functools
from unittest import mock

import pytest

from vlab.errors import VlabError
from vlab.lab import Lab

from . import test_conformance as suite
from .programs import build, parse_header, programs

_PATHS = {p.stem: p for p in programs()}
_HEADERS = {name: parse_header(path) for name, path in _PATHS.items()}
PV_RUNS = sorted(name for name, h in _HEADERS.items() if h.paravirt_na is None)
NOT_APPLICABLE = sorted(name for name, h in _HEADERS.items() if h.paravirt_na is not None)
MIN_PV_RUNS = 31  # of 122 programs (a quarter); the other 91 test what a PV kernel does not own

# program -> what vlab's core does instead of what the SDM says (the same as natively)
KNOWN_DIVERGENCES = {name: why for (name, strategy), why in suite.KNOWN_DIVERGENCES.items()
                     if strategy == "native" and name in PV_RUNS}


@functools.lru_cache(maxsize=None)
def pv_image(name: str):
    """The paravirtual build of a program."""
    return build(_PATHS[name], {"PV": 1})


def run_pv(name: str) -> tuple[str, str | None]:
    """The console of a program's PV build under paravirt, and the guest error if it ended in
    one: test_conformance's run (its budget and wall-clock alarm), given the PV image."""
    with mock.patch.object(suite, "_image", pv_image):
        return suite.run(name, "paravirt")


def _cases():
    for name in PV_RUNS:
        why = KNOWN_DIVERGENCES.get(name)
        marks = [pytest.mark.xfail(strict=True, reason=why)] if why else []
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", list(_cases()))
def test_program_paravirtualized(name: str):
    header = _HEADERS[name]
    console, error = run_pv(name)
    shown = console + (f"[guest error] {error}\n" if error else "")
    assert error is None and console == header.expect, (
        f"{name}, PV build under paravirt:\n--- expected ({header.reference})\n{header.expect}"
        f"--- got\n{shown}")


@pytest.mark.parametrize("name", NOT_APPLICABLE)
def test_not_applicable_program_is_refused_unmodified(name: str):
    """Its subject is not a PV kernel's to own; and its unmodified image does not run here."""
    assert len(_HEADERS[name].paravirt_na) > 20, f"{name}: 'paravirt: n/a' needs its reason"
    with pytest.raises(VlabError, match=f"'{name}' is not paravirtualized"):
        Lab(image=build(_PATHS[name]), strategy="paravirt", budget=suite.BUDGET)


def test_enough_programs_run_paravirtualized():
    """Never fewer PV runs than today, and at least a fifth of the suite."""
    assert len(PV_RUNS) >= MIN_PV_RUNS and 5 * len(PV_RUNS) >= len(_PATHS), (
        f"{len(PV_RUNS)} of {len(_PATHS)} programs have a paravirtual run")


def test_a_pv_build_sets_itself_up_with_hypercalls():
    """No privileged instruction: the GDT, the trap table and the kernel stack come from
    hypercalls; paging is the PV MMU's (a pinned directory, entries through mmu_update), and
    a #PF's address reaches the kernel in shared info."""
    lab = Lab(image=pv_image("pg_pf_error_codes"), strategy="paravirt", budget=suite.BUDGET)
    lab.run()
    assert lab.console == _HEADERS["pg_pf_error_codes"].expect
    calls = {e.detail["hypercall"] for e in lab.trace if e.reason.name == "HYPERCALL"}
    assert {"set_gdt", "set_trap_table", "stack_switch", "console_io", "iret", "mmu_update",
            "mmuext_op", "sched_op"} <= calls
    assert set(lab.trace.counts()) <= {"HYPERCALL", "EXCEPTION_NMI", "SOFTWARE_INTERRUPT"}
    memory = lab.memory_summary()
    assert memory["pinned page directories"] == 1 and memory["page-table updates"] == 4


def test_a_user_tasks_port_io_is_a_gp_through_the_trap_table():
    """A PV kernel's ring-3 task has no I/O privilege: IOPL is 0 and the hypervisor's TSS has no
    I/O permission bitmap, so its IN is #GP(0), reflected through the trap table (before the
    fix, it reached the device)."""
    lab = Lab(image=pv_image("io_ring3_denied"), strategy="paravirt", budget=suite.BUDGET)
    lab.run()
    faults = [e.detail for e in lab.trace if e.reason.name == "EXCEPTION_NMI"]
    assert faults == [{"vector": 13, "error_code": 0}]
    assert lab.console == _HEADERS["io_ring3_denied"].expect


def test_parse_paravirt_key(tmp_path):
    program = tmp_path / "p.S"
    program.write_text("# title: t\n# sdm: s\n# paravirt: n/a the IDT's gates\n# expect:\n"
                       "# | x\nmain:\n")
    assert parse_header(program).paravirt_na == "the IDT's gates"
    program.write_text("# title: t\n# sdm: s\n# expect:\n# | x\nmain:\n")
    assert parse_header(program).paravirt_na is None
