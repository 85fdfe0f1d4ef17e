"""Exit qualifications in Intel's formats (SDM vol. 3, 28.2.1 "Basic VM-exit information").

Table 28-3, control-register accesses:
  bits 3:0   number of the control register (0 for CLTS and LMSW)
  bits 5:4   access type: 0 = MOV to CR, 1 = MOV from CR, 2 = CLTS, 3 = LMSW
  bit 6      LMSW operand type: 0 = register, 1 = memory
  bits 11:8  general register for MOV CR: 0 EAX, 1 ECX, 2 EDX, 3 EBX, 4 ESP, 5 EBP, 6 ESI, 7 EDI
  bits 31:16 LMSW source data
Table 28-5, I/O instructions:
  bits 2:0   size of access - 1 (0 = 1 byte, 1 = 2 bytes, 3 = 4 bytes)
  bit 3      direction: 0 = OUT, 1 = IN
  bit 4      string instruction (INS/OUTS)
  bit 5      REP prefixed
  bit 6      operand encoding: 0 = DX, 1 = immediate
  bits 31:16 port number
"""

from __future__ import annotations

from dataclasses import dataclass

GPR_ORDER = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")
CR_ACCESS_TYPES = ("MOV to CR", "MOV from CR", "CLTS", "LMSW")


@dataclass(frozen=True)
class CrAccess:
    cr: int
    access_type: int  # 0 mov to, 1 mov from, 2 clts, 3 lmsw
    register: str  # the general register (MOV CR only)
    lmsw_data: int = 0
    lmsw_memory: bool = False

    def __str__(self) -> str:
        if self.access_type == 0:
            return f"MOV to CR{self.cr} from {self.register.upper()}"
        if self.access_type == 1:
            return f"MOV from CR{self.cr} to {self.register.upper()}"
        if self.access_type == 2:
            return "CLTS"
        return f"LMSW {self.lmsw_data:#06x}"


def encode_cr(cr: int, access_type: int, register: str = "eax", lmsw_data: int = 0,
              lmsw_memory: bool = False) -> int:
    return ((cr & 0xF) | (access_type & 3) << 4 | int(lmsw_memory) << 6
            | GPR_ORDER.index(register) << 8 | (lmsw_data & 0xFFFF) << 16)


def decode_cr(q: int) -> CrAccess:
    return CrAccess(q & 0xF, (q >> 4) & 3, GPR_ORDER[(q >> 8) & 7], (q >> 16) & 0xFFFF,
                    bool(q >> 6 & 1))


@dataclass(frozen=True)
class IoAccess:
    port: int
    size: int  # bytes: 1, 2 or 4
    is_in: bool
    string: bool = False
    rep: bool = False
    immediate: bool = False

    def __str__(self) -> str:
        op = "IN" if self.is_in else "OUT"
        where = f"port={self.port:#x}" if self.immediate else f"dx={self.port:#x}"
        return f"{op} {where} size {self.size}" + (" string" if self.string else "") + \
            (" rep" if self.rep else "")


def encode_io(port: int, size: int, is_in: bool, string: bool = False, rep: bool = False,
              immediate: bool = False) -> int:
    if size not in (1, 2, 4):
        raise ValueError("I/O size must be 1, 2 or 4 bytes")
    return ((size - 1) | int(is_in) << 3 | int(string) << 4 | int(rep) << 5 | int(immediate) << 6
            | (port & 0xFFFF) << 16)


def decode_io(q: int) -> IoAccess:
    return IoAccess((q >> 16) & 0xFFFF, (q & 7) + 1, bool(q >> 3 & 1), bool(q >> 4 & 1),
                    bool(q >> 5 & 1), bool(q >> 6 & 1))
