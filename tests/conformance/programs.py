"""The conformance programs (programs/*.S) and the header each one starts with.

A header is the block of ``#`` comment lines at the top of the file (it ends at the first line
that is not a comment)::

    # title: one line
    # sdm: vol. 3A, 6.8.3 (and other sections)
    # expect:
    # | first console line
    # | second console line
    # bochs: skip <reason>          (optional: Bochs cannot be compared, e.g. vlab's timer/CPUID)
    # diverges: trap_emulate <why>  (optional, may repeat: a strategy known to differ)
    # paravirt: n/a <reason>        (optional: the program has no paravirtual run, see below)
    # spec: ATA/ATAPI-6 8.34 ...    (optional: sections of a device's own specification, for a
    #                               program about a device rather than the CPU; sdm may be empty)
    # disk: 1008                    (optional: the run has an ATA disk of that many sectors)

A program with ``disk: N`` (N sectors of 512 bytes) runs with an ATA hard disk on the primary
channel (ports 0x1F0-0x1F7, 0x3F6, IRQ 14 through the slave 8259) holding
``vlab.hw.disk.pattern(N)``: under vlab as ``Lab(image, disk=N)``, on Bochs as a flat image of
the same bytes on ata0-master (bochs.disk_geometry says which N Bochs can take). Without the key
there is no disk (Bochs's ata0 is disabled). The disk starts anew for every run: what a program
writes is not seen by the next one.

Every program also has a paravirtual build (``build(path, {"PV": 1})``: conf.inc's PV form, the
kernel part in ring 1 speaking hypercalls) that runs under the strategy paravirt and must print
``expect`` too, unless the header says ``paravirt: n/a`` and why: the program's subject is
something a paravirtual kernel does not own (the IDT's gates, control registers, MSRs, the TSS,
the LDT, STI/CLI and the interrupt flag, ring 0 itself, ...), so there is nothing of the
hardware's to compare under the hypervisor. A program's body is the same in both builds but for
macros with a PV form (conf.inc's KERNEL_RPL; paging.inc's PTE_SET, PTE_AND, FLUSH_PAGE,
FLUSH_TLB, READ_CR2) and a small ``.ifdef PV`` block where it sets up something privileged that
has a hypercall equivalent; what it tests and its ``expect`` never change.

An ``expect`` line is what follows ``# |`` (one space after the bar is dropped, the rest is kept
as is); the expected console is those lines joined with newlines, plus a final newline when there
is at least one. The keys may come in any order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

PROGRAMS_DIR = Path(__file__).parent / "programs"

_KEY = re.compile(r"(title|sdm|spec|expect|bochs|diverges|paravirt|disk):(.*)$")


@dataclass
class Header:
    title: str
    sdm: str
    expect: str  # the expected console: lines joined with "\n", a final "\n" when non-empty
    bochs_skip: str | None = None  # why Bochs cannot run it; None: compare with Bochs
    diverges: dict[str, str] = field(default_factory=dict)  # strategy -> why it differs
    paravirt_na: str | None = None  # why it has no paravirtual run; None: its PV build runs
    disk: int | None = None  # sectors of the ATA disk it runs with; None: no disk
    spec: str = ""  # sections of a device's specification (e.g. ATA/ATAPI-6)

    @property
    def reference(self) -> str:
        """What the expectation comes from, for messages: "SDM: ..." and/or "spec: ..."."""
        parts = [f"SDM: {self.sdm}" if self.sdm else "", f"spec: {self.spec}" if self.spec else ""]
        return "; ".join(p for p in parts if p) or "no reference given"


def parse_header(path: str | Path) -> Header:
    """The header of the program at ``path``."""
    values = {"title": "", "sdm": "", "spec": ""}
    expect: list[str] = []
    bochs_skip = paravirt_na = None
    disk: int | None = None
    diverges: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        if not line.startswith("#"):
            break
        text = line[1:].removeprefix(" ")
        if text.lstrip().startswith("|"):
            text = text.lstrip()[1:]
            expect.append(text.removeprefix(" "))
            continue
        m = _KEY.match(text.strip())
        if not m:
            continue  # free commentary
        key, value = m.group(1), m.group(2).strip()
        if key == "bochs":
            word, _, reason = value.partition(" ")
            if word == "skip":
                bochs_skip = reason.strip()
        elif key == "diverges":
            strategy, _, why = value.partition(" ")
            diverges[strategy] = why.strip()
        elif key == "paravirt":
            word, _, reason = value.partition(" ")
            if word == "n/a":
                paravirt_na = reason.strip()
        elif key == "disk":
            if not value.isdigit() or int(value) < 1:
                raise ValueError(f"{path}: 'disk: {value}': give the disk's sectors (a positive "
                                 "whole number)")
            disk = int(value)
        elif key != "expect":
            values[key] = value
    text = "\n".join(expect) + ("\n" if expect else "")
    return Header(values["title"], values["sdm"], text, bochs_skip, diverges, paravirt_na, disk,
                  values["spec"])


def programs() -> list[Path]:
    """Every program (programs/*.S), sorted by name; none yet is an empty list."""
    return sorted(PROGRAMS_DIR.glob("*.S"))


def build(path: str | Path, defines: dict[str, int] | None = None):
    """Assemble a program; its own directory (conf.inc) and vlab's include directory
    (vlab.inc, lib.inc) are on the include path. ``defines`` are ``--defsym`` symbols:
    ``{"PV": 1}`` is the paravirtual build."""
    from vlab.isa import INCLUDE_DIR, assemble

    path = Path(path)
    return assemble(path.read_text(), path.stem, include_dirs=[path.parent, INCLUDE_DIR],
                    defines=defines)
