"""Exercise 11's scenarios: the mini hypervisor (``vlab/guests/hypervisor/hv.S``) built with the
student's exit handlers (``HANDLERS=1``: hv.S includes ``handlers.S``), over a guest, under the
native strategy, where its VM exits are the machine's own (:mod:`vlab.hw.vmx`).

The reference run is the same hypervisor with its own handlers, built with the same symbols
(``TRAP_EXIT_PORT``: the exit port exits too; ``ENTRY_BUG``: a VM entry made to fail). The
checks judge what the grader's machine observed: the console, how the run ended, and the exits
by reason in the lab's trap log (the hardware's exits, which no handler can forge).
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

from vlab.errors import BudgetExhausted
from vlab.grading.core import Check, Run, Scenario, console_line_difference, stopped_with
from vlab.guests import hypervisor
from vlab.i18n import N_, tr
from vlab.isa import Image, assemble

#: The file the skeleton includes: the submission is assembled under this name.
SUBMISSION = "handlers.S"
#: The labels a submission must define (the skeleton's vmexit calls handle_exit).
LABELS = ["handle_exit"]
BUDGET = 600_000  # instructions: the kernel under the hypervisor needs about 145,000
MAX_EXITS = 5_000  # the kernel makes about 1,030
#: build symbols every scenario's hypervisor gets: the exit port exits too (an OUT with an
#: immediate port, table 27-5 bit 6)
DEFINES = {"TRAP_EXIT_PORT": 1}
HV_UNEXPECTED_EXIT, HV_ENTRY_FAILED = 0x44, 0x43  # hv.S's exit codes


def program(defines: dict | None = None):
    """``Scenario.program`` for the mini hypervisor over the scenario's guest: with the
    student's handlers when given their assembler, else with its own (the reference)."""
    symbols = {**DEFINES, **(defines or {})}

    def build(guest, assembler):
        if assembler is None:
            return hypervisor.bundle(guest, defines=symbols)
        return hypervisor.bundle(guest, defines={**symbols, "HANDLERS": 1}, assembler=assembler)

    return build


def scenario(name: str, guest: str, checks: list[Check], visibility: str = "visible",
             defines: dict | None = None, seed: bool = True) -> Scenario:
    """A guest under the hypervisor with the student's handlers (``seed``: the guest's ``seed``
    label gets a fresh random number each grading, which it prints)."""
    return Scenario(name, guest, "native", {}, checks, visibility=visibility, budget=BUDGET,
                    max_exits=MAX_EXITS, program=program(defines),
                    seed_symbol="guest.seed" if seed else None)


def bundle_with(handlers: str | Path, guest: Image | None = None, **defines: int) -> Image:
    """Your hypervisor, to run and step in a Lab: the skeleton with the exit handlers in the
    file ``handlers`` over ``guest`` (default: the teaching kernel), built as the grader builds
    it (``defines``: more build symbols, e.g. ``ENTRY_BUG=1``). Assembled here, without a
    sandbox: it is your own file."""
    text = Path(handlers).read_text()
    with tempfile.TemporaryDirectory(prefix="vlab-handlers-") as folder:
        (Path(folder) / SUBMISSION).write_text(text)

        def assembler(source, name, origin, *, defines, include_dirs):
            return assemble(source, name, origin, defines=defines,
                            include_dirs=[*include_dirs, Path(folder)])

        return hypervisor.bundle(guest, defines={**DEFINES, **defines, "HANDLERS": 1},
                                 assembler=assembler)


# ---------------------------------------------------------------------------- checks
def _stopped(lab) -> str:
    """How a run ended, for feedback: where, and for a budget spent in the hypervisor, why."""
    if lab.error is None:
        if lab.exit_code is not None:
            return tr("{status} (exit code {code})").format(status=stopped_with(lab),
                                                            code=f"{lab.exit_code:#x}")
        return stopped_with(lab)
    text = stopped_with(lab)
    eip = getattr(lab.error, "eip", None)
    if eip is not None and hypervisor.HV_BASE <= eip < hypervisor.HV_END:
        where = lab.symbol(eip) or f"{eip:#010x}"
        if isinstance(lab.error, BudgetExhausted):
            return tr("{error} (in the hypervisor, at {where}: an endless loop in a handler, or "
                      "one that never resumes the guest?)").format(error=text, where=where)
        return tr("{error} (in the hypervisor, at {where})").format(error=text, where=where)
    return text


def runs_to_end(points: float, code: int = 0) -> Check:
    """The guest reached its own end (the exit port, with ``code``), or the hypervisor ended the
    run with that code."""
    def test(run: Run) -> tuple[bool, str]:
        lab = run.lab
        if lab.status == "halted" and lab.exit_code == code:
            return True, ""
        return False, tr("expected the run to end with exit code {code}; it stopped with "
                         "{what}").format(code=f"{code:#x}", what=_stopped(lab))
    return Check.said(N_("the run ends with exit code {code}"), points, test, code=f"{code:#x}")


@functools.cache
def _native_console(guest: str) -> str:
    from vlab.lab import Lab

    lab = Lab(guest, "native")
    lab.run()
    return lab.console


def _first_difference(got: str, want: str) -> str:
    return (console_line_difference(got, want)
            or tr("the console differs (in its last line's end)"))


def console_as_native(guest: str, points: float) -> Check:
    """The console is exactly the guest's console on the bare machine."""
    def test(run: Run) -> tuple[bool, str]:
        want = _native_console(guest)
        if run.console == want:
            return True, ""
        return False, _first_difference(run.console, want)
    return Check.said(N_("the console is {guest}'s native console, byte for byte"), points, test,
                      guest=guest)


def console_as_reference(points: float) -> Check:
    """The console is exactly what the hypervisor prints with vlab's own handlers."""
    def test(run: Run) -> tuple[bool, str]:
        if run.console == run.reference.console:
            return True, ""
        return False, _first_difference(run.console, run.reference.console)
    return Check.said(N_("the console is the one vlab's own exit handlers give"), points, test)


def exits_as_reference(points: float) -> Check:
    """The trap log's VM exits by reason are the reference's: each exit handled once (a handler
    that does not advance the guest makes its instruction exit again)."""
    def test(run: Run) -> tuple[bool, str]:
        got, want = run.lab.trace.counts(), run.reference.trace.counts()
        if got == want:
            return True, ""
        return False, tr("expected the exits {want}, got {got}").format(want=_text(want),
                                                                        got=_text(got))
    return Check.said(N_("the VM exits in the trap log are the reference's, reason by reason"),
                      points, test)


def kernel_exits(points: float) -> Check:
    """The teaching kernel's exits: its one CPUID, two serial-port accesses per console byte
    (the line-status IN and the data OUT) and the OUT to the exit port, and HLTs that each wait
    for a timer tick (so no more of them than ticks); nothing else."""
    def test(run: Run) -> tuple[bool, str]:
        lab = run.lab
        counts = lab.trace.counts()
        want_io = 2 * len(lab.console) + 1
        problems = []
        if counts.get("CPUID", 0) != 1:
            problems.append(tr("{count} CPUID exits (the kernel runs CPUID once)").format(
                count=counts.get("CPUID", 0)))
        if counts.get("IO_INSTRUCTION", 0) != want_io:
            problems.append(tr("{count} I/O exits (the console's {bytes} bytes make {io}, and "
                               "the exit port 1)").format(count=counts.get("IO_INSTRUCTION", 0),
                                                         bytes=len(lab.console), io=want_io - 1))
        hlt, ticks = counts.get("HLT", 0), lab.machine.devices.timer.ticks
        if not 1 <= hlt <= ticks:
            problems.append(tr("{count} HLT exits for {ticks} timer ticks (each HLT waits for a "
                               "tick)").format(count=hlt, ticks=ticks))
        others = set(counts) - {"CPUID", "IO_INSTRUCTION", "HLT"}
        if others:
            problems.append(tr("other exits: {exits}").format(
                exits=_text({r: counts[r] for r in others})))
        return not problems, "; ".join(problems)
    return Check.said(N_("the trap log's exits: 1 CPUID, 2 I/O per console byte + 1, HLTs that "
                         "wait"), points, test)


def reports(text: str, code: int, points: float) -> Check:
    """The hypervisor reported ``text`` (its last console line) and ended with ``code``."""
    def test(run: Run) -> tuple[bool, str]:
        lab = run.lab
        last = lab.console.rstrip("\n").rsplit("\n", 1)[-1]
        if last == text and lab.status == "halted" and lab.exit_code == code:
            return True, ""
        return False, tr("expected the last console line {text} and exit code {code}; got "
                         "{last} and {what}").format(text=repr(text), code=f"{code:#x}",
                                                     last=repr(last), what=_stopped(lab))
    return Check.said(N_("the hypervisor reports {text} and stops (exit code {code})"), points,
                      test, text=repr(text), code=f"{code:#x}")


def exits_exactly(counts: dict[str, int], points: float) -> Check:
    """The trap log holds exactly these exits by reason."""
    def test(run: Run) -> tuple[bool, str]:
        got = run.lab.trace.counts()
        return got == counts, tr("expected the exits {want}, got {got}").format(
            want=_text(counts), got=_text(got))
    return Check.said(N_("the trap log's exits: {exits}"), points, test, exits=_text(counts))


def _text(counts: dict[str, Any]) -> str:
    return " · ".join(f"{r} {n}" for r, n in sorted(counts.items())) or tr("none")
