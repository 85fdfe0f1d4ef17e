"""Random instruction streams for differential testing against Bochs and across strategies.

One guest image holds many streams. Each stream seeds the general registers and the arithmetic
flags, runs a few random ordinary instructions (ALU, shifts and rotates, multiplies, bit tests,
moves, loads and stores into a scratch buffer, PUSH/POP on a stream stack of its own) and prints
one line: a hash of EAX..EDI, ESP and the flags the SDM defines after those instructions. The
generator knows which flags each instruction leaves undefined (SDM vol. 2, each instruction's
"Flags Affected"; e.g. AF after AND, OF after a shift by more than 1, SF/ZF/AF/PF after IMUL) and
masks them out of the hash, since processors (and Bochs and QEMU) differ there.

``stream_source(seed, count)`` is a complete conformance program; ``single_stream(seed, index)``
the one stream that hashes to line ``index``, with every register printed (for a failure's
message).
"""

from __future__ import annotations

import random
import re

CF, PF, AF, ZF, SF, OF = 0x1, 0x4, 0x10, 0x40, 0x80, 0x800
ALL = CF | PF | AF | ZF | SF | OF
REGS = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp")
REG8 = ("al", "bl", "cl", "dl", "ah", "bh", "ch", "dh")
REG16 = ("ax", "bx", "cx", "dx", "si", "di", "bp")
CONDITIONS = ("o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le",
              "g")
_READS_FLAGS = re.compile(r"(adc|sbb|rcl|rcr|set\w+|cmov\w+|cmc) ?")
BUFFER = 256  # bytes of scratch memory per image (dword-aligned offsets into `sbuf`)


def _instruction(r: random.Random) -> tuple[str, int, int]:
    """One random instruction: (assembly, flags written, flags left undefined)."""
    a, b = r.choice(REGS), r.choice(REGS)
    imm = r.choice([0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
                    r.getrandbits(32), r.getrandbits(8)])
    mem = f"dword ptr [sbuf + {4 * r.randrange(BUFFER // 4)}]"
    kind = r.randrange(17)
    if kind <= 2:  # arithmetic: every flag defined
        op = r.choice(["add", "adc", "sub", "sbb", "cmp"])
        src = r.choice([b, str(imm), mem])
        dst = mem if src != mem and r.random() < 0.2 else a
        return f"{op} {dst}, {src}", ALL, 0
    if kind == 3:
        op = r.choice(["and", "or", "xor", "test"])
        return f"{op} {a}, {r.choice([b, str(imm), mem])}", ALL, AF
    if kind == 4:
        op = r.choice(["inc", "dec"])
        return f"{op} {a}", ALL & ~CF, 0
    if kind == 5:
        return (f"neg {a}", ALL, 0) if r.random() < 0.5 else (f"not {a}", 0, 0)
    if kind == 6:
        count = r.randrange(32)
        op = r.choice(["shl", "shr", "sar"])
        if count == 0:
            return f"{op} {a}, 0", 0, 0
        return f"{op} {a}, {count}", ALL, AF | (OF if count > 1 else 0)
    if kind == 7:
        count = r.randrange(1, 32)
        op = r.choice(["rol", "ror", "rcl", "rcr"])
        return f"{op} {a}, {count}", CF | OF, OF if count > 1 else 0
    if kind == 8:
        form = r.randrange(3)
        if form == 0:
            return f"imul {a}, {b}", ALL, SF | ZF | AF | PF
        if form == 1:
            return f"imul {a}, {b}, {imm & 0xFFFF}", ALL, SF | ZF | AF | PF
        return f"mul {b}", ALL, SF | ZF | AF | PF
    if kind == 9:
        op = r.choice(["bt", "bts", "btr", "btc"])
        return f"{op} {a}, {r.randrange(32)}", CF | OF | SF | AF | PF, OF | SF | AF | PF
    if kind == 10:
        form = r.randrange(4)
        if form == 0:
            return f"movzx {a}, {r.choice(REG8[:4])}", 0, 0
        if form == 1:
            return f"movsx {a}, {r.choice(REG16)}", 0, 0
        if form == 2:
            return f"bswap {a}", 0, 0
        return f"xchg {a}, {b}", 0, 0
    if kind == 11:
        return f"lea {a}, [{b} + {r.choice(REGS)}*{r.choice([1, 2, 4, 8])} + {imm & 0xFFF}]", 0, 0
    if kind == 12:
        return f"set{r.choice(CONDITIONS)} {r.choice(REG8)}", 0, 0
    if kind == 13:
        return f"cmov{r.choice(CONDITIONS)} {a}, {r.choice([b, mem])}", 0, 0
    if kind == 14:
        return r.choice([f"mov {a}, {mem}", f"mov {mem}, {a}", f"mov {a}, {imm}"]), 0, 0
    if kind == 15:
        return r.choice([f"push {a}", f"pop {a}", f"push {imm}"]), 0, 0
    form = r.randrange(4)
    if form == 0:
        return r.choice(["clc", "stc", "cmc"]), CF, 0
    if form == 1:
        return "cdq", 0, 0
    if form == 2:
        return "sahf", CF | PF | AF | ZF | SF, 0
    return f"xadd {a}, {b}", ALL, 0


def _stream(r: random.Random, length: int) -> tuple[list[str], int]:
    """A stream's lines (seeds, then instructions) and the flags the SDM defines at its end."""
    lines = [f"mov {reg}, {r.getrandbits(32)}" for reg in REGS]
    lines += ["mov esp, offset sstack_top", f"push {r.getrandbits(32) & ALL | 2}", "popfd"]
    undefined = 0
    for _ in range(length):
        text, written, undef = _instruction(r)
        while undefined and _READS_FLAGS.match(text):  # never consume an undefined flag
            text, written, undef = _instruction(r)
        lines.append(text)
        undefined = (undefined & ~written) | undef
    return lines, ALL & ~undefined


def stream_source(seed: int, count: int, length: int = 10, pv: bool = False) -> str:
    """A program running ``count`` streams; it prints one hash line per stream. ``pv``: the
    paravirtual build (no privileged instruction; console and exit through hypercalls,
    assemble with ``defines={"PV": 1}``), else a conformance program (conf.inc)."""
    r = random.Random(seed)
    out = []
    for _ in range(count):
        lines, mask = _stream(r, length)
        out += [f"    {line}" for line in lines]
        out.append(f"    STREAM_HASH {mask}")
    return _wrap("\n".join(out), pv)


def single_stream(seed: int, index: int, length: int = 10, pv: bool = False) -> str:
    """Stream ``index`` of ``stream_source(seed, ...)`` alone, printing every register."""
    r = random.Random(seed)
    for _ in range(index + 1):
        lines, mask = _stream(r, length)
    return _wrap("\n".join(f"    {line}" for line in lines) + f"\n    STREAM_DUMP {mask}", pv)


def _wrap(body: str, pv: bool) -> str:
    if pv:
        head = ('.include "vlab.inc"\n.include "kernel.inc"\n.set HASH_STACK, pvstack_top\n'
                ".globl _start\n_start:\n    PV_SIGNATURE\n")
        tail = ('\n    EXIT 0\n.include "lib.inc"\n.section .data\n.balign 16\n'
                "pvstack: .space 1024\npvstack_top:\n.section .text\n")
    else:
        head, tail = '.include "conf.inc"\n.set HASH_STACK, kstack_top\nmain:\n', "\n    EXIT 0\n"
    return head + _HASH_MACRO + body + "\n    mov esp, offset HASH_STACK" + tail + _HASH_MACRO_DATA + "\n"


_HASH_MACRO = """
# STREAM_HASH mask: one line, the hash of EAX..EDI (as PUSHAD leaves them), and of EFLAGS & mask.
.macro STREAM_HASH mask
    pushfd
    and dword ptr [esp], \\mask
    pushad
    mov dword ptr [esp + 12], 0         # (ESP: where the stream stack lies differs by build)
    mov esi, esp
    xor eax, eax
    mov ecx, 9
1:  rol eax, 5
    xor eax, [esi]
    add esi, 4
    loop 1b
    mov esp, offset HASH_STACK
    call puthex
    call newline
.endm
# STREAM_DUMP mask: every register, and EFLAGS & mask, one per line.
.macro STREAM_DUMP mask
    pushfd
    and dword ptr [esp], \\mask
    pushad
    mov dword ptr [esp + 12], 0
    mov esi, esp
    mov ecx, 9
1:  mov eax, [esi]
    call puthex
    call newline
    add esi, 4
    loop 1b
    mov esp, offset HASH_STACK
.endm
"""
_HASH_MACRO_DATA = """.section .data
.balign 4
sbuf: .fill 64, 4, 0x5a5a5a5a
.balign 16
sstack: .space 256
sstack_top: .space 64                   # (a POP with nothing pushed reads these zeros)
.section .text"""
