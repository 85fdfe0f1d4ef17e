"""Exits into the monitor, and the trap log that records them.

Every strategy reports through the same :class:`Exit`, so the UI, the trace and the grader never
special-case a strategy. Basic exit reasons use Intel's numbers where one exists (SDM vol. 3,
appendix C "VMX basic exit reasons"); events with no VT-x counterpart get numbers from 0x100 up.
"""

from __future__ import annotations

import enum
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable


class ExitReason(enum.IntEnum):
    """Why control reached the monitor (Intel basic exit reason numbers where they exist)."""

    EXCEPTION_NMI = 0
    EXTERNAL_INTERRUPT = 1
    TRIPLE_FAULT = 2
    INTERRUPT_WINDOW = 7
    CPUID = 10
    HLT = 12
    INVLPG = 14
    RDTSC = 16
    VMCALL = 18
    CR_ACCESS = 28
    IO_INSTRUCTION = 30
    RDMSR = 31
    WRMSR = 32
    GDTR_IDTR_ACCESS = 46
    LDTR_TR_ACCESS = 47
    EPT_VIOLATION = 48
    # vlab's own, for software monitors (no VT-x number)
    PRIVILEGED_INSTRUCTION = 0x100
    SENSITIVE_INSTRUCTION = 0x101
    SOFTWARE_INTERRUPT = 0x102
    HYPERCALL = 0x103


@dataclass(frozen=True)
class Exit:
    """One trap into the monitor."""

    reason: ExitReason
    eip: int
    strategy: str
    cpl: int
    instruction: str = ""
    raw: bytes = b""
    qualification: int = 0
    handler: str = ""
    cost: int = 0
    index: int = 0
    detail: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """A flat dict (for tables and pandas)."""
        d = asdict(self)
        d["reason"] = self.reason.name
        d["reason_number"] = int(self.reason)
        d["raw"] = self.raw.hex()
        return d


class TrapLog:
    """Every exit counted exactly; the most recent ``keep`` exits kept whole."""

    def __init__(self, keep: int = 10_000):
        self.keep = keep
        self.recent: deque[Exit] = deque(maxlen=keep)
        self.by_reason: Counter[ExitReason] = Counter()
        self.by_instruction: Counter[str] = Counter()
        self.total = 0
        self.cycles = 0

    def record(self, exit_: Exit) -> None:
        self.total += 1
        self.by_reason[exit_.reason] += 1
        if exit_.instruction:
            self.by_instruction[exit_.instruction.split()[0]] += 1
        self.cycles += exit_.cost
        self.recent.append(exit_)

    @property
    def dropped(self) -> int:
        """Exits counted but no longer kept whole."""
        return self.total - len(self.recent)

    def __len__(self) -> int:
        return self.total

    def __iter__(self):
        return iter(self.recent)

    def filter(self, reason: ExitReason | str | None = None) -> list[Exit]:
        if reason is None:
            return list(self.recent)
        if isinstance(reason, str):
            reason = ExitReason[reason]
        return [e for e in self.recent if e.reason == reason]

    def counts(self) -> dict[str, int]:
        """Exits by reason name."""
        return {r.name: n for r, n in sorted(self.by_reason.items())}

    def rows(self, exits: Iterable[Exit] | None = None) -> list[dict[str, Any]]:
        return [e.row() for e in (self.recent if exits is None else exits)]

    def clear(self) -> None:
        self.__init__(self.keep)
