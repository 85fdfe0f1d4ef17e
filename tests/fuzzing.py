"""Shared by the fuzz tests and scripts/fuzz_long.py: guests made of random bytes or of random
sequences of real instructions (privileged, sensitive, I/O, segment loads, far transfers,
interrupts), and the rule every run must obey: it ends in a halt or a *specific* vlab error,
within a wall-clock bound — never a Python crash, a segfault, a hang or an unrelated exception."""

from __future__ import annotations

import signal
import time

from vlab.errors import GuestError, HandlerError, VlabError
from vlab.isa import assemble
from vlab.lab import Lab

PV_HEADER = b"\xeb\x08VLAB-PV1"
STRATEGIES = ("native", "trap_emulate", "binary_translation", "vtx", "paravirt")
#: (label, assembly); labels ending in ":imm" have a 32-bit immediate the fuzzer rewrites.
SNIPPETS = [
    ("mov eax:imm", "mov eax, 0x12345678"), ("mov ebx:imm", "mov ebx, 0x12345678"),
    ("mov ecx:imm", "mov ecx, 0x12345678"), ("mov edx:imm", "mov edx, 0x12345678"),
    ("mov esp:imm", "mov esp, 0x12345678"), ("add", "add eax, ebx"), ("xor", "xor ecx, eax"),
    ("push", "push eax"), ("pop", "pop ebx"), ("store", "mov [ebx], eax"),
    ("load", "mov eax, [ebx]"), ("jmp", "jmp . + 7"), ("call", "call . + 5"), ("ret", "ret"),
    ("cli", "cli"), ("sti", "sti"), ("hlt", "hlt"), ("mov cr0r", "mov eax, cr0"),
    ("mov cr0w", "mov cr0, eax"), ("mov cr3r", "mov eax, cr3"), ("mov cr3w", "mov cr3, eax"),
    ("mov cr4w", "mov cr4, eax"), ("lgdt", "lgdt [ebx]"), ("lidt", "lidt [ebx]"),
    ("ltr", "ltr ax"), ("lldt", "lldt ax"), ("invlpg", "invlpg [ebx]"), ("wbinvd", "wbinvd"),
    ("rdmsr", "rdmsr"), ("wrmsr", "wrmsr"), ("clts", "clts"), ("lmsw", "lmsw ax"),
    ("rdtsc", "rdtsc"), ("cpuid", "cpuid"), ("pushfd", "pushfd"), ("popfd", "popfd"),
    ("sgdt", "sgdt [ebx]"), ("sidt", "sidt [ebx]"), ("sldt", "sldt ax"), ("str", "str ax"),
    ("smsw", "smsw eax"), ("mov cs", "mov eax, cs"), ("mov ss", "mov ax, ss"),
    ("push cs", "push cs"), ("push ds", "push ds"), ("pop ds", "pop ds"), ("pop es", "pop es"),
    ("mov ds", "mov ds, ax"), ("mov ss,", "mov ss, ax"), ("lar", "lar eax, ecx"),
    ("lsl", "lsl eax, ecx"), ("verr", "verr ax"), ("verw", "verw ax"),
    ("ljmp", "ljmp 0x08, 0x00100020"), ("lcall", "lcall 0x19, 0x00100040"), ("retf", "lret"),
    ("int80", "int 0x80"), ("int82", "int 0x82"), ("int3", "int3"), ("into", "into"),
    ("iretd", "iretd"), ("in dx", "in al, dx"), ("out dx", "out dx, al"),
    ("in 21", "in al, 0x21"), ("out 21", "out 0x21, al"), ("eoi", "out 0x20, al"),
    ("timer", "out 0x40, eax"), ("in timer", "in eax, 0x40"), ("vmcall", "vmcall"),
    ("ud2", "ud2"), ("paging on", "mov eax, cr0\n    or eax, 0x80000000\n    mov cr0, eax"),
    ("pde", "mov dword ptr [ebx], 0x00001007"), ("pushfw", "pushfw"), ("popfw", "popfw"),
    ("push cs16", "pushw cs"), ("pop ds16", "popw ds"), ("retf 8", "lret 8"),
    ("iretw", "iretw"), ("lar tss", "lar eax, word ptr [ebx]"), ("lsl cx", "lsl ecx, ecx"),
    ("exit", "out 0xf4, al"),
]
IMMEDIATES = [0, 1, 0x10, 0x19, 0x21, 0x2B, 0x33, 0x38, 0x3F8, 0xF4, 0x1000, 0x80000,
              0x100000, 0x3FFFF0, 0x400000, 0x7FFFFFFF, 0xFFFF0000, 0xFFFF2000, 0xFFFFFFFF,
              0x80010011, 0x2000, 0xE0000000]


def _pool() -> dict[str, bytes]:
    source = "".join(f"snip{i}:\n    {asm}\n" for i, (_, asm) in enumerate(SNIPPETS))
    source = ".globl _start\n_start:\n" + source + "snip_end:\n"
    img = assemble(source, "fuzz-pool")
    starts = [img.symbols[f"snip{i}"] for i in range(len(SNIPPETS))] + [img.symbols["snip_end"]]
    return {label: img.code[starts[i] - img.origin:starts[i + 1] - img.origin]
            for i, (label, _) in enumerate(SNIPPETS)}


POOL = _pool()
LABELS = [label for label, _ in SNIPPETS]


def program(choices: list[tuple[int, int]]) -> bytes:
    """A guest from (snippet index, immediate index) pairs, ending at the exit device."""
    out = bytearray()
    for snippet, imm in choices:
        label = LABELS[snippet % len(LABELS)]
        code = bytearray(POOL[label])
        if label.endswith(":imm"):
            code[-4:] = IMMEDIATES[imm % len(IMMEDIATES)].to_bytes(4, "little")
        out += code
    return bytes(out + POOL["exit"])


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang("the run did not end within the wall-clock bound")


def run_guest(code: bytes, strategy: str, budget: int = 3000, wall: float = 5.0):
    """Run ``code`` as a flat guest; returns the outcome's name. Raises AssertionError for
    anything but a halt or a specific vlab error."""
    if strategy == "paravirt":
        code = PV_HEADER + code
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, wall)
    t = time.perf_counter()
    try:
        try:
            lab = Lab(image=code or b"\x90", strategy=strategy, budget=budget)
        except VlabError as e:
            raise AssertionError(f"{strategy}: the lab refused a flat image: {e}") from e
        try:
            stop = lab.run()
            outcome = stop.reason
        except HandlerError as e:
            raise AssertionError(f"{strategy}: vlab's own handler failed: {e}") from e
        except GuestError as e:
            outcome = type(e).__name__
        except VlabError as e:
            raise AssertionError(f"{strategy}: unspecific vlab error {type(e).__name__}: {e}") from e
        # the lab stays usable after anything
        lab.reset()
        assert lab.state().eip == 0x100000, "reset did not give a working lab"
        return outcome
    except Hang:
        raise AssertionError(f"{strategy}: hang ({time.perf_counter() - t:.1f} s)") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
