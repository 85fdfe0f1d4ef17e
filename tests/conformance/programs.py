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

An ``expect`` line is what follows ``# |`` (one space after the bar is dropped, the rest is kept
as is); the expected console is those lines joined with newlines, plus a final newline when there
is at least one. The keys may come in any order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

PROGRAMS_DIR = Path(__file__).parent / "programs"

_KEY = re.compile(r"(title|sdm|expect|bochs|diverges):(.*)$")


@dataclass
class Header:
    title: str
    sdm: str
    expect: str  # the expected console: lines joined with "\n", a final "\n" when non-empty
    bochs_skip: str | None = None  # why Bochs cannot run it; None: compare with Bochs
    diverges: dict[str, str] = field(default_factory=dict)  # strategy -> why it differs


def parse_header(path: str | Path) -> Header:
    """The header of the program at ``path``."""
    values = {"title": "", "sdm": ""}
    expect: list[str] = []
    bochs_skip = None
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
        elif key != "expect":
            values[key] = value
    text = "\n".join(expect) + ("\n" if expect else "")
    return Header(values["title"], values["sdm"], text, bochs_skip, diverges)


def programs() -> list[Path]:
    """Every program (programs/*.S), sorted by name; none yet is an empty list."""
    return sorted(PROGRAMS_DIR.glob("*.S"))


def build(path: str | Path):
    """Assemble a program; its own directory (conf.inc) and vlab's include directory
    (vlab.inc, lib.inc) are on the include path."""
    from vlab.isa import INCLUDE_DIR, assemble

    path = Path(path)
    return assemble(path.read_text(), path.stem, include_dirs=[path.parent, INCLUDE_DIR])
