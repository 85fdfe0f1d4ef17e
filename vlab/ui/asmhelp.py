"""What the "x86 (vlab)" kernel completes in a cell: mnemonics, registers, labels, vlab's magics
and strategy names. (Shift-Tab's explanation of an instruction is ``Lab.explain``.)"""

from __future__ import annotations

import re

from vlab import isa
from vlab.explain import ORDINARY
from vlab.lab import Lab

MAGICS = ("strategy", "step", "regs", "trace", "diagram", "widget", "run", "reset", "help")
REGISTERS = (
    "eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "ax", "bx", "cx", "dx", "si", "di",
    "bp", "sp", "al", "ah", "bl", "bh", "cl", "ch", "dl", "dh", "cs", "ds", "es", "fs", "gs", "ss",
    "cr0", "cr2", "cr3", "cr4", "dr0", "dr1", "dr2", "dr3", "dr6", "dr7")
#: vlab.inc's macros a cell may use.
MACROS = ("PRINT", "EXIT", "SET_GATE")

def words(code: str) -> set[str]:
    """The labels a cell defines (``name:``)."""
    return set(re.findall(r"^\s*([A-Za-z_.][\w.$]*):", code, re.M))


def complete(code: str, cursor: int, labels: set[str] = frozenset()) -> tuple[int, int, list[str]]:
    """(start, end, matches) for the token before ``cursor``."""
    line_start = code.rfind("\n", 0, cursor) + 1
    before = code[line_start:cursor]
    m = re.search(r"[%\w.$]*$", before)
    token = m.group(0)
    start = cursor - len(token)
    stripped = before.lstrip()
    if stripped.startswith("%strategy ") or stripped.startswith("%%asm --strategy "):
        options = list(Lab.available_strategies())
    elif token.startswith("%%"):
        options = ["%%python"]
    elif token.startswith("%"):
        options = [f"%{name}" for name in MAGICS]
    elif stripped == token:  # the first word on the line: an instruction or a macro
        options = sorted(ORDINARY | isa.PRIVILEGED | isa.SENSITIVE | isa.IO | isa.VMX) \
            + list(MACROS)
    else:
        options = list(REGISTERS) + sorted(labels | words(code))
    low = token.lower()
    matches = [o for o in options if o.lower().startswith(low) and o != token]
    return start, cursor, matches


def token_at(code: str, cursor: int) -> str:
    """The word under (or just before) the cursor."""
    line_start = code.rfind("\n", 0, cursor) + 1
    line_end = code.find("\n", cursor)
    line = code[line_start:line_end if line_end != -1 else len(code)]
    pos = cursor - line_start
    for m in re.finditer(r"[\w.$]+", line):
        if m.start() <= pos <= m.end():
            return m.group(0)
    return ""


