"""The conformance programs (programs/*.S) and their headers.

Each program starts with a header of ``#`` comment lines::

    # title: one line
    # sdm: vol. 3A, 6.8.3
    # expect:
    # | first console line
    # bochs: skip <reason>            (optional)
    # diverges: trap_emulate <why>    (optional, may repeat)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

PROGRAMS_DIR = Path(__file__).parent / "programs"


@dataclass
class Header:
    title: str
    sdm: str
    expect: str
    bochs_skip: str | None = None
    diverges: dict[str, str] = field(default_factory=dict)


def parse_header(path: str | Path) -> Header:
    """The header of a program: the leading ``#`` lines, up to the first other line."""
    fields: dict[str, str] = {}
    expect: list[str] = []
    diverges: dict[str, str] = {}
    bochs_skip = None
    for line in Path(path).read_text().splitlines():
        if not line.startswith("#"):
            break
        body = line[1:].strip() if not line[1:].lstrip().startswith("|") else line[1:].lstrip()
        if body.startswith("|"):
            expect.append(body[2:] if body.startswith("| ") else body[1:])
        elif m := re.match(r"(title|sdm|expect|bochs|diverges):\s*(.*)$", body):
            key, value = m.groups()
            if key == "bochs":
                bochs_skip = re.sub(r"^skip\s*", "", value)
            elif key == "diverges":
                strategy, _, why = value.partition(" ")
                diverges[strategy] = why.strip()
            else:
                fields[key] = value
    text = "\n".join(expect) + ("\n" if expect else "")
    return Header(fields.get("title", ""), fields.get("sdm", ""), text, bochs_skip, diverges)


def programs() -> list[Path]:
    """Every program, by name."""
    return sorted(PROGRAMS_DIR.glob("*.S"))


def build(path: str | Path):
    """Assemble a program (its directory is on the include path, for conf.inc)."""
    from vlab.isa import assemble

    path = Path(path)
    return assemble(path.read_text(), path.stem, include_dirs=[path.parent])
