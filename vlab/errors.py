"""The specific errors vlab raises.

Every error a guest can provoke is a subclass of :class:`VlabError` and carries the guest EIP and
the disassembled instruction where that makes sense, so that a student sees *where* and *what*.
A raised error never leaves the lab unusable: ``reset()`` or ``switch()`` gives a working machine.
"""

from __future__ import annotations


class VlabError(Exception):
    """Base class of every error vlab raises on purpose."""


class GuestError(VlabError):
    """Something the guest did stopped the run."""

    def __init__(self, message: str, eip: int | None = None, instruction: str | None = None):
        self.eip = eip
        self.instruction = instruction
        where = ""
        if eip is not None:
            where = f" at EIP={eip:#010x}"
            if instruction:
                where += f" ({instruction})"
        super().__init__(message + where)
        self.reason = message


class GuestFault(GuestError):
    """The guest raised a fault it cannot handle itself (e.g. no gate in its IDT)."""


class GuestException(GuestFault):
    """What an emulated instruction would raise on hardware (e.g. #UD for MOV from CR7): the
    monitor reflects it into the guest instead of failing."""

    def __init__(self, message: str, vector: int, error_code: int | None = None,
                 eip: int | None = None):
        self.vector = vector
        self.error_code = error_code
        super().__init__(message, eip)


class ProtectionFault(GuestException):
    """The CPU would refuse this (a selector it may not load): a #GP the monitor reflects into
    the guest, as hardware would raise it."""

    def __init__(self, message: str, error_code: int = 0, eip: int | None = None):
        super().__init__(message, 13, error_code & 0xFFFC, eip)


class InvalidOpcode(GuestFault):
    """The guest executed bytes that are not a valid instruction (#UD) and has no #UD handler."""


class TripleFault(GuestFault):
    """A fault while delivering a double fault, or no usable IDT: a real CPU would reset."""


class UnmappedAccess(GuestFault):
    """The guest touched an address outside its RAM."""

    def __init__(self, message: str, address: int, eip: int | None = None,
                 instruction: str | None = None):
        self.address = address
        super().__init__(message, eip, instruction)


class GuestHang(GuestFault):
    """The guest waits for an interrupt that can never come (HLT with interrupts disabled)."""


class BudgetExhausted(GuestError):
    """The run used its whole instruction budget: a runaway guest, or a budget too small."""


class HandlerError(VlabError):
    """A monitor handler (vlab's or a student's) raised or misbehaved; names handler and exit."""


class AssemblyError(VlabError):
    """The assembler rejected a guest source; ``line`` and ``message`` say where and why."""

    def __init__(self, message: str, source: str = "", line: int | None = None):
        self.line = line
        self.source = source
        super().__init__(message)


class EngineError(VlabError):
    """The installed Unicorn does not behave as vlab needs (failed self-test at start-up)."""
