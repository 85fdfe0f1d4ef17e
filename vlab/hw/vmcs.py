"""A model of Intel VT-x: the VMCS, its controls, and what a VM exit records.

Field names and encodings are the SDM's (Intel SDM vol. 3, appendix B "Field encoding in VMCS");
control bits are those of SDM vol. 3, 24.6 "VM-execution control fields"; basic exit reasons are
appendix C. Unicorn cannot execute VMX: vlab *models* non-root mode (the guest runs at CPL 0 on
the core and vlab intercepts exactly what these controls make exit), and keeps the VMCS as an
object with ``vmread``/``vmwrite`` by name or encoding.
"""

from __future__ import annotations

from dataclasses import dataclass

from vlab.errors import VlabError

# ---------------------------------------------------------------------------- field encodings
# SDM vol. 3, appendix B. 16-bit fields 0x0xxx, 64-bit 0x2xxx, 32-bit 0x4xxx, natural-width 0x6xxx.
FIELDS: dict[str, int] = {
    # 16-bit control (B.1.1)
    "VIRTUAL_PROCESSOR_ID": 0x0000,
    # 16-bit guest-state (B.1.2)
    "GUEST_ES_SELECTOR": 0x0800, "GUEST_CS_SELECTOR": 0x0802, "GUEST_SS_SELECTOR": 0x0804,
    "GUEST_DS_SELECTOR": 0x0806, "GUEST_FS_SELECTOR": 0x0808, "GUEST_GS_SELECTOR": 0x080A,
    "GUEST_LDTR_SELECTOR": 0x080C, "GUEST_TR_SELECTOR": 0x080E,
    # 16-bit host-state (B.1.3)
    "HOST_ES_SELECTOR": 0x0C00, "HOST_CS_SELECTOR": 0x0C02, "HOST_SS_SELECTOR": 0x0C04,
    "HOST_DS_SELECTOR": 0x0C06, "HOST_FS_SELECTOR": 0x0C08, "HOST_GS_SELECTOR": 0x0C0A,
    "HOST_TR_SELECTOR": 0x0C0C,
    # 64-bit control (B.2.1)
    "IO_BITMAP_A": 0x2000, "IO_BITMAP_B": 0x2002, "MSR_BITMAP": 0x2004,
    "VM_EXIT_MSR_STORE_ADDR": 0x2006, "VM_EXIT_MSR_LOAD_ADDR": 0x2008,
    "VM_ENTRY_MSR_LOAD_ADDR": 0x200A, "EXECUTIVE_VMCS_POINTER": 0x200C, "TSC_OFFSET": 0x2010,
    "VIRTUAL_APIC_PAGE_ADDR": 0x2012, "EPT_POINTER": 0x201A,
    # 64-bit read-only data (B.2.2)
    "GUEST_PHYSICAL_ADDRESS": 0x2400,
    # 64-bit guest-state (B.2.3)
    "VMCS_LINK_POINTER": 0x2800, "GUEST_IA32_DEBUGCTL": 0x2802, "GUEST_IA32_PAT": 0x2804,
    "GUEST_IA32_EFER": 0x2806, "GUEST_PDPTE0": 0x280A, "GUEST_PDPTE1": 0x280C,
    "GUEST_PDPTE2": 0x280E, "GUEST_PDPTE3": 0x2810,
    # 64-bit host-state (B.2.4)
    "HOST_IA32_PAT": 0x2C00, "HOST_IA32_EFER": 0x2C02,
    # 32-bit control (B.3.1)
    "PIN_BASED_VM_EXEC_CONTROL": 0x4000, "CPU_BASED_VM_EXEC_CONTROL": 0x4002,
    "EXCEPTION_BITMAP": 0x4004, "PAGE_FAULT_ERROR_CODE_MASK": 0x4006,
    "PAGE_FAULT_ERROR_CODE_MATCH": 0x4008, "CR3_TARGET_COUNT": 0x400A,
    "VM_EXIT_CONTROLS": 0x400C, "VM_EXIT_MSR_STORE_COUNT": 0x400E,
    "VM_EXIT_MSR_LOAD_COUNT": 0x4010, "VM_ENTRY_CONTROLS": 0x4012, "VM_ENTRY_MSR_LOAD_COUNT": 0x4014,
    "VM_ENTRY_INTR_INFO_FIELD": 0x4016, "VM_ENTRY_EXCEPTION_ERROR_CODE": 0x4018,
    "VM_ENTRY_INSTRUCTION_LEN": 0x401A, "TPR_THRESHOLD": 0x401C,
    "SECONDARY_VM_EXEC_CONTROL": 0x401E,
    # 32-bit read-only data (B.3.2)
    "VM_INSTRUCTION_ERROR": 0x4400, "VM_EXIT_REASON": 0x4402, "VM_EXIT_INTR_INFO": 0x4404,
    "VM_EXIT_INTR_ERROR_CODE": 0x4406, "IDT_VECTORING_INFO_FIELD": 0x4408,
    "IDT_VECTORING_ERROR_CODE": 0x440A, "VM_EXIT_INSTRUCTION_LEN": 0x440C,
    "VMX_INSTRUCTION_INFO": 0x440E,
    # 32-bit guest-state (B.3.3)
    "GUEST_ES_LIMIT": 0x4800, "GUEST_CS_LIMIT": 0x4802, "GUEST_SS_LIMIT": 0x4804,
    "GUEST_DS_LIMIT": 0x4806, "GUEST_FS_LIMIT": 0x4808, "GUEST_GS_LIMIT": 0x480A,
    "GUEST_LDTR_LIMIT": 0x480C, "GUEST_TR_LIMIT": 0x480E, "GUEST_GDTR_LIMIT": 0x4810,
    "GUEST_IDTR_LIMIT": 0x4812, "GUEST_ES_AR_BYTES": 0x4814, "GUEST_CS_AR_BYTES": 0x4816,
    "GUEST_SS_AR_BYTES": 0x4818, "GUEST_DS_AR_BYTES": 0x481A, "GUEST_FS_AR_BYTES": 0x481C,
    "GUEST_GS_AR_BYTES": 0x481E, "GUEST_LDTR_AR_BYTES": 0x4820, "GUEST_TR_AR_BYTES": 0x4822,
    "GUEST_INTERRUPTIBILITY_INFO": 0x4824, "GUEST_ACTIVITY_STATE": 0x4826,
    "GUEST_SMBASE": 0x4828, "GUEST_SYSENTER_CS": 0x482A,
    # 32-bit host-state (B.3.4)
    "HOST_IA32_SYSENTER_CS": 0x4C00,
    # natural-width control (B.4.1)
    "CR0_GUEST_HOST_MASK": 0x6000, "CR4_GUEST_HOST_MASK": 0x6002, "CR0_READ_SHADOW": 0x6004,
    "CR4_READ_SHADOW": 0x6006, "CR3_TARGET_VALUE0": 0x6008, "CR3_TARGET_VALUE1": 0x600A,
    "CR3_TARGET_VALUE2": 0x600C, "CR3_TARGET_VALUE3": 0x600E,
    # natural-width read-only data (B.4.2)
    "EXIT_QUALIFICATION": 0x6400, "IO_RCX": 0x6402, "IO_RSI": 0x6404, "IO_RDI": 0x6406,
    "IO_RIP": 0x6408, "GUEST_LINEAR_ADDRESS": 0x640A,
    # natural-width guest-state (B.4.3)
    "GUEST_CR0": 0x6800, "GUEST_CR3": 0x6802, "GUEST_CR4": 0x6804, "GUEST_ES_BASE": 0x6806,
    "GUEST_CS_BASE": 0x6808, "GUEST_SS_BASE": 0x680A, "GUEST_DS_BASE": 0x680C,
    "GUEST_FS_BASE": 0x680E, "GUEST_GS_BASE": 0x6810, "GUEST_LDTR_BASE": 0x6812,
    "GUEST_TR_BASE": 0x6814, "GUEST_GDTR_BASE": 0x6816, "GUEST_IDTR_BASE": 0x6818,
    "GUEST_DR7": 0x681A, "GUEST_RSP": 0x681C, "GUEST_RIP": 0x681E, "GUEST_RFLAGS": 0x6820,
    "GUEST_PENDING_DBG_EXCEPTIONS": 0x6822, "GUEST_SYSENTER_ESP": 0x6824,
    "GUEST_SYSENTER_EIP": 0x6826,
    # natural-width host-state (B.4.4)
    "HOST_CR0": 0x6C00, "HOST_CR3": 0x6C02, "HOST_CR4": 0x6C04, "HOST_FS_BASE": 0x6C06,
    "HOST_GS_BASE": 0x6C08, "HOST_TR_BASE": 0x6C0A, "HOST_GDTR_BASE": 0x6C0C,
    "HOST_IDTR_BASE": 0x6C0E, "HOST_IA32_SYSENTER_ESP": 0x6C10, "HOST_IA32_SYSENTER_EIP": 0x6C12,
    "HOST_RSP": 0x6C14, "HOST_RIP": 0x6C16,
}
NAMES = {v: k for k, v in FIELDS.items()}
READ_ONLY = frozenset(n for n, e in FIELDS.items() if (e >> 10) & 3 == 1)  # type bits 11:10 = 1

# An encoding's width, bits 14:13 (SDM vol. 3C, 24.11.2): 16-bit, 64-bit, 32-bit, natural width
# (32 bits on this 32-bit processor); bit 0 of a 64-bit field's encoding selects its high half.
WIDTH_16, WIDTH_64, WIDTH_32, WIDTH_NATURAL = 0, 1, 2, 3
_MASK = {WIDTH_16: 0xFFFF, WIDTH_64: (1 << 64) - 1, WIDTH_32: 0xFFFF_FFFF,
         WIDTH_NATURAL: 0xFFFF_FFFF}


def width(encoding: int) -> int:
    return (encoding >> 13) & 3


def field_of(encoding: int) -> tuple[int, bool] | None:
    """(the field's full encoding, high half?) for an encoding software may give VMREAD or
    VMWRITE, or None if this processor does not support it (SDM vol. 3C, 24.11.2: bits 31:15
    must be 0; bit 0, "access type", is 1 only for the high half of a 64-bit field)."""
    if encoding >> 15:
        return None
    if encoding & 1:
        full = encoding & ~1
        return (full, True) if full in NAMES and width(full) == WIDTH_64 else None
    return (encoding, False) if encoding in NAMES else None

# ---------------------------------------------------------------------------- control bits
# Pin-based VM-execution controls (SDM vol. 3, table 24-5)
EXTERNAL_INTERRUPT_EXITING = 1 << 0
NMI_EXITING = 1 << 3
# Primary processor-based VM-execution controls (table 24-6)
INTERRUPT_WINDOW_EXITING = 1 << 2
HLT_EXITING = 1 << 7
INVLPG_EXITING = 1 << 9
RDPMC_EXITING = 1 << 11
RDTSC_EXITING = 1 << 12
CR3_LOAD_EXITING = 1 << 15
CR3_STORE_EXITING = 1 << 16
MOV_DR_EXITING = 1 << 23
UNCOND_IO_EXITING = 1 << 24
USE_IO_BITMAPS = 1 << 25
MONITOR_TRAP_FLAG = 1 << 27
USE_MSR_BITMAPS = 1 << 28
ACTIVATE_SECONDARY_CONTROLS = 1 << 31
# Secondary processor-based VM-execution controls (table 24-7)
ENABLE_EPT = 1 << 1
DESC_TABLE_EXITING = 1 << 2
UNRESTRICTED_GUEST = 1 << 7
# VM-exit controls (table 24-13) and VM-entry controls (table 24-15)
ACKNOWLEDGE_INTERRUPT_ON_EXIT = 1 << 15

CONTROL_BITS = {
    "PIN_BASED_VM_EXEC_CONTROL": {"EXTERNAL_INTERRUPT_EXITING": EXTERNAL_INTERRUPT_EXITING,
                                  "NMI_EXITING": NMI_EXITING},
    "CPU_BASED_VM_EXEC_CONTROL": {
        "INTERRUPT_WINDOW_EXITING": INTERRUPT_WINDOW_EXITING, "HLT_EXITING": HLT_EXITING,
        "INVLPG_EXITING": INVLPG_EXITING, "RDPMC_EXITING": RDPMC_EXITING,
        "RDTSC_EXITING": RDTSC_EXITING, "CR3_LOAD_EXITING": CR3_LOAD_EXITING,
        "CR3_STORE_EXITING": CR3_STORE_EXITING, "MOV_DR_EXITING": MOV_DR_EXITING,
        "UNCOND_IO_EXITING": UNCOND_IO_EXITING, "USE_IO_BITMAPS": USE_IO_BITMAPS,
        "MONITOR_TRAP_FLAG": MONITOR_TRAP_FLAG, "USE_MSR_BITMAPS": USE_MSR_BITMAPS,
        "ACTIVATE_SECONDARY_CONTROLS": ACTIVATE_SECONDARY_CONTROLS},
    "SECONDARY_VM_EXEC_CONTROL": {"ENABLE_EPT": ENABLE_EPT,
                                  "DESC_TABLE_EXITING": DESC_TABLE_EXITING,
                                  "UNRESTRICTED_GUEST": UNRESTRICTED_GUEST},
    "VM_EXIT_CONTROLS": {"ACKNOWLEDGE_INTERRUPT_ON_EXIT": ACKNOWLEDGE_INTERRUPT_ON_EXIT},
}
CONTROL_OF = {bit: field for field, bits in CONTROL_BITS.items() for bit in bits}
#: control name -> (its field's encoding, its bit)
_CONTROL_AT = {name: (FIELDS[field], bit) for field, bits in CONTROL_BITS.items()
               for name, bit in bits.items()}
#: Controls the SDM defines that vlab's model does not act on yet: setting one is refused, so
#: that a VMCS never claims an exit that will not happen (NMIs never occur in vlab).
NOT_MODELLED = {
    "DESC_TABLE_EXITING": "LGDT, LIDT, LLDT, LTR, SGDT, SIDT, SLDT and STR run in the guest",
    "MOV_DR_EXITING": "MOV to and from debug registers run in the guest",
    "RDPMC_EXITING": "RDPMC runs in the guest",
}

# Interruption-information format (SDM vol. 3, 24.9.2 and 24.8.3): vector 7:0, type 10:8,
# error code valid 11, valid 31.
INTR_TYPE_EXTERNAL, INTR_TYPE_NMI, INTR_TYPE_HW_EXCEPTION, INTR_TYPE_SW_INTERRUPT = 0, 2, 3, 4
INTR_TYPE_SW_EXCEPTION = 6
INTR_INFO_VALID = 1 << 31
INTR_INFO_ERROR_CODE_VALID = 1 << 11


def intr_info(vector: int, kind: int, error_code: bool = False) -> int:
    """An interruption-information value (exit or entry)."""
    return (vector & 0xFF) | (kind & 7) << 8 | int(error_code) << 11 | INTR_INFO_VALID


@dataclass(frozen=True)
class InterruptionInfo:
    vector: int
    kind: int
    error_code_valid: bool
    valid: bool

    @classmethod
    def decode(cls, value: int) -> InterruptionInfo:
        return cls(value & 0xFF, (value >> 8) & 7, bool(value & INTR_INFO_ERROR_CODE_VALID),
                   bool(value & INTR_INFO_VALID))


#: What the processor writes at every VM exit (SDM vol. 3, 27.2 and 27.3), in the order
#: :meth:`Vmcs.save_exit_state` takes the values: the exit information, then the guest state.
EXIT_SAVED = (
    "VM_EXIT_REASON", "EXIT_QUALIFICATION", "VM_EXIT_INSTRUCTION_LEN", "VM_EXIT_INTR_INFO",
    "VM_EXIT_INTR_ERROR_CODE", "GUEST_RIP", "GUEST_RSP", "GUEST_RFLAGS",
    "GUEST_CR0", "GUEST_CR3", "GUEST_CR4",
    "GUEST_CS_SELECTOR", "GUEST_DS_SELECTOR", "GUEST_ES_SELECTOR", "GUEST_FS_SELECTOR",
    "GUEST_GS_SELECTOR", "GUEST_SS_SELECTOR",
    "GUEST_GDTR_BASE", "GUEST_GDTR_LIMIT", "GUEST_IDTR_BASE", "GUEST_IDTR_LIMIT",
    "GUEST_TR_SELECTOR", "GUEST_TR_BASE", "GUEST_TR_LIMIT",
    "GUEST_LDTR_SELECTOR", "GUEST_LDTR_BASE", "GUEST_LDTR_LIMIT",
)
_EXIT_ENCODINGS = tuple(FIELDS[name] for name in EXIT_SAVED)
_EXIT_SET = frozenset(_EXIT_ENCODINGS)


class Vmcs:
    """The virtual-machine control structure: fields by SDM name or encoding, I/O and MSR
    bitmaps, and which fields the last VM exit changed.

    A VM exit hands its values over at once (:meth:`save_exit_state`, a tuple captured when
    the exit happened); they are stored field by field only when someone reads or writes one
    of those fields, or asks what the exit changed. A handler that never looks at the guest
    state (CPUID's) costs no per-field work, and nobody ever sees the live CPU instead."""

    def __init__(self) -> None:
        self._values: dict[int, int] = {enc: 0 for enc in FIELDS.values()}
        self.io_bitmap_a = bytearray(4096)  # ports 0x0000-0x7FFF, a bit each: 1 = exit
        self.io_bitmap_b = bytearray(4096)  # ports 0x8000-0xFFFF
        self.msr_bitmap = bytearray(4096)  # read low, read high, write low, write high (1 KiB each)
        self._noted: set[int] = set()  # encodings the last exit (and its handler) changed
        self._changed: set[int] = set()  # encodings written since the last exit began
        self._capture: tuple[int, ...] | None = None  # EXIT_SAVED values, not yet stored
        self._baseline: tuple[int, ...] | None = None  # the capture before, never stored either
        #: why the last VM entry with this VMCS failed (a guest hypervisor's VMCS), for people
        self.entry_problem: str | None = None
        #: A guest hypervisor's VMCS: its I/O and MSR bitmaps are the pages of guest-physical
        #: memory its IO_BITMAP_A/B and MSR_BITMAP fields point to, read with this
        #: ``(address, size) -> bytes`` (None: vlab's own monitor keeps them here, above)
        self.memory = None

    @staticmethod
    def encoding(field: str | int) -> int:
        if isinstance(field, int):
            if field not in NAMES:
                raise KeyError(f"no VMCS field with encoding {field:#06x} in vlab's model")
            return field
        if field not in FIELDS:
            raise KeyError(f"no VMCS field {field!r}; fields are named as in the SDM, e.g. "
                           "'CPU_BASED_VM_EXEC_CONTROL', 'GUEST_RIP', 'EXIT_QUALIFICATION'")
        return FIELDS[field]

    def vmread(self, field: str | int) -> int:
        if type(field) is int and field not in _EXIT_SET:  # (the monitor's own reads, per exit)
            value = self._values.get(field)
            if value is not None:
                return value
        enc = self.encoding(field)
        if self._capture is not None and enc in _EXIT_SET:
            self._settle()
        return self._values[enc]

    def vmwrite(self, field: str | int, value: int) -> None:
        """Write a field (the VM-exit information fields are read-only, as on hardware)."""
        enc = self.encoding(field)
        if NAMES[enc] in READ_ONLY:
            raise PermissionError(f"{NAMES[enc]} is a read-only VM-exit information field")
        self._store(enc, value)

    def _store(self, enc: int, value: int) -> None:
        if self._capture is not None and enc in _EXIT_SET:
            self._settle()  # (what the exit saved comes first: this write then wins)
        value &= _MASK[width(enc)]
        if self._values[enc] != value:
            self._values[enc] = value
            self._changed.add(enc)

    read, write = vmread, vmwrite

    def read_half(self, enc: int, high: bool) -> int:
        """VMREAD by guest software on this 32-bit processor (``enc`` supported, see
        :func:`field_of`): a 64-bit field in two halves, others zero-extended (SDM vol. 3C,
        24.11.2)."""
        value = self.vmread(enc)
        return (value >> 32 if high else value) & 0xFFFF_FFFF

    def write_half(self, enc: int, high: bool, value: int) -> None:
        """VMWRITE by guest software: a 16-bit field keeps bits 15:0; a 64-bit field written
        in full from a 32-bit operand gets 0 in bits 63:32, its high half leaves bits 31:0 as
        they were (SDM vol. 3C, 24.11.2 and 30.3 VMWRITE)."""
        value &= 0xFFFF_FFFF
        if high:
            value = (self.vmread(enc) & 0xFFFF_FFFF) | value << 32
        self._store(enc, value)

    def save_at_exit(self, values: dict[str, int]) -> None:
        """The processor's own writes at a VM exit: exit information (read-only to software)
        and the guest-state area as the guest had it (SDM vol. 3, 27.2 and 27.3)."""
        for field, value in values.items():
            self._store(FIELDS[field], value)

    def save_exit_state(self, values: tuple[int, ...]) -> None:
        """The processor's writes at a VM exit: the values of :data:`EXIT_SAVED`, in order (kept
        as given until a field among them is looked at)."""
        self._capture = values

    def exit_state_untouched(self) -> bool:
        """Has nobody read or written a field the last exit saved (so none has changed)?"""
        return self._capture is not None

    def _settle(self) -> None:
        """Store the captured exit values, noting each field they changed."""
        values, self._capture = self._capture, None
        before, self._baseline = self._baseline, None
        current = self._values
        for i, enc in enumerate(_EXIT_ENCODINGS):
            value = values[i] & 0xFFFF_FFFF
            old = current[enc] if before is None else before[i] & 0xFFFF_FFFF
            current[enc] = value
            if old != value:
                self._changed.add(enc)
                self._noted.add(enc)

    def __getitem__(self, field: str | int) -> int:
        return self.vmread(field)

    def __setitem__(self, field: str | int, value: int) -> None:
        self.vmwrite(field, value)

    # ---------------------------------------------------------------- controls
    def control(self, name: str) -> bool:
        """Is a named control bit set, e.g. ``control("HLT_EXITING")``? (Asked at every exit and
        entry: read by encoding.)"""
        enc, bit = _CONTROL_AT[name]
        return bool(self.vmread(enc) & bit)

    def set_control(self, name: str, on: bool = True) -> None:
        field = CONTROL_OF.get(name)
        if field is None:
            raise KeyError(f"no VM-execution control {name!r}; known: {sorted(CONTROL_OF)}")
        if on and name in NOT_MODELLED:
            raise VlabError(f"{name} is an SDM control vlab's VT-x model does not implement: "
                            f"{NOT_MODELLED[name]} (SDM vol. 3C, 25.6.2)")
        bit = CONTROL_BITS[field][name]
        value = self.vmread(field)
        self.vmwrite(field, (value | bit) if on else (value & ~bit))

    def exception_exits(self, vector: int) -> bool:
        return bool(self.vmread("EXCEPTION_BITMAP") >> vector & 1)

    def io_exits(self, port: int, size: int = 1) -> bool:
        """Would an access of ``size`` bytes at ``port`` exit (SDM vol. 3C, 25.1.3:
        unconditional I/O exiting; or, when "use I/O bitmaps" is set, the bitmaps alone: the
        access exits if the bit of any port it touches is 1, and always if it wraps past
        0xFFFF)?"""
        if self.control("USE_IO_BITMAPS"):
            if port + size > 0x10000:
                return True
            return any(self._io_bit(p) for p in range(port, port + size))
        return self.control("UNCOND_IO_EXITING")

    def _io_bit(self, port: int) -> bool:
        p = port & 0x7FFF
        if self.memory is not None:
            base = self.vmread(FIELDS["IO_BITMAP_A" if port < 0x8000 else "IO_BITMAP_B"])
            return bool(self.memory(base + (p >> 3), 1)[0] >> (p & 7) & 1)
        bitmap = self.io_bitmap_a if port < 0x8000 else self.io_bitmap_b
        return bool(bitmap[p >> 3] >> (p & 7) & 1)

    def io_exit_ports(self) -> str:
        """The ports whose bit is set in the I/O bitmaps, as ranges ("0x1f0-0x1f7, 0x3f6")."""
        ranges: list[list[int]] = []
        for port in range(0x10000):
            if self._io_bit(port):
                if ranges and ranges[-1][1] == port - 1:
                    ranges[-1][1] = port
                else:
                    ranges.append([port, port])
        return ", ".join(f"{a:#x}" if a == b else f"{a:#x}-{b:#x}" for a, b in ranges) or "none"

    def set_io_exit(self, port: int, on: bool = True) -> None:
        bitmap = self.io_bitmap_a if port < 0x8000 else self.io_bitmap_b
        p = port & 0x7FFF
        if on:
            bitmap[p >> 3] |= 1 << (p & 7)
        else:
            bitmap[p >> 3] &= ~(1 << (p & 7)) & 0xFF

    @staticmethod
    def _msr_bit(msr: int, write: bool) -> tuple[int, int] | None:
        """(byte, bit) of an MSR in the MSR bitmap: read low, read high, write low, write high,
        1 KiB each (SDM 24.6.9); None for MSRs outside both ranges."""
        base = 2048 if write else 0
        if msr <= 0x1FFF:
            index = msr
        elif 0xC000_0000 <= msr <= 0xC000_1FFF:
            base, index = base + 1024, msr - 0xC000_0000
        else:
            return None
        return base + (index >> 3), index & 7

    def msr_exits(self, msr: int, write: bool) -> bool:
        """RDMSR/WRMSR exit unless "use MSR bitmaps" is set and the MSR's bit is clear (SDM
        25.1.3; MSRs outside both ranges always exit)."""
        if not self.control("USE_MSR_BITMAPS"):
            return True
        where = self._msr_bit(msr, write)
        if where is None:
            return True
        if self.memory is not None:
            byte = self.memory(self.vmread(FIELDS["MSR_BITMAP"]) + where[0], 1)[0]
        else:
            byte = self.msr_bitmap[where[0]]
        return bool(byte >> where[1] & 1)

    def set_msr_exit(self, msr: int, write: bool, on: bool = True) -> None:
        where = self._msr_bit(msr, write)
        if where is None:
            raise ValueError(f"MSR {msr:#x} is outside the ranges the MSR bitmap covers")
        byte, bit = where
        if on:
            self.msr_bitmap[byte] |= 1 << bit
        else:
            self.msr_bitmap[byte] &= ~(1 << bit) & 0xFF

    def cr_write_exits(self, cr: int, value: int) -> bool:
        """MOV to CR0/CR4 exits iff a bit the host owns (mask) would differ from its read shadow;
        MOV to CR3 iff CR3-load exiting and the value is not a CR3 target (SDM 25.1.3)."""
        if cr in (0, 4):
            mask = self.vmread(f"CR{cr}_GUEST_HOST_MASK")
            return bool((value ^ self.vmread(f"CR{cr}_READ_SHADOW")) & mask)
        if cr == 3:
            if not self.control("CR3_LOAD_EXITING"):
                return False
            targets = [self.vmread(f"CR3_TARGET_VALUE{i}")
                       for i in range(min(4, self.vmread("CR3_TARGET_COUNT")))]
            return value not in targets
        return False

    def cr_read_value(self, cr: int, real: int) -> int:
        """What MOV from CR0/CR4 (and SMSW) returns in non-root mode: the read shadow for the
        bits the host owns, the real bits elsewhere (SDM 25.3)."""
        if cr not in (0, 4):
            return real
        mask = self.vmread(f"CR{cr}_GUEST_HOST_MASK")
        return (real & ~mask) | (self.vmread(f"CR{cr}_READ_SHADOW") & mask)

    # ---------------------------------------------------------------- snapshots
    def save_state(self) -> tuple:
        if self._capture is not None:
            self._settle()
        return (dict(self._values), bytes(self.io_bitmap_a), bytes(self.io_bitmap_b),
                bytes(self.msr_bitmap), set(self._noted), set(self._changed))

    def load_state(self, state: tuple) -> None:
        values, a, b, msr, noted, changed = state
        self._values = dict(values)
        self.io_bitmap_a[:], self.io_bitmap_b[:], self.msr_bitmap[:] = a, b, msr
        self._noted, self._changed = set(noted), set(changed)
        self._capture = self._baseline = None

    # ---------------------------------------------------------------- inspection
    def mark_exit(self) -> None:
        """A VM exit begins: from now on, track which fields it changes."""
        self._changed = set()
        if self._capture is not None:  # (the last exit's values were never stored: what the
            self._baseline, self._capture = self._capture, None  # fields hold before this one)

    def note_changes(self) -> None:
        """The VM entry: what the exit and its handler changed is now the last exit's."""
        self._noted = set(self._changed)

    @property
    def changed_at_exit(self) -> set[str]:
        """The fields the last VM exit (and its handler) changed, by name."""
        if self._capture is not None:
            self._settle()
        return {NAMES[e] for e in self._noted}

    def table(self) -> list[dict]:
        """Every field: name, encoding, value, whether the last exit changed it."""
        rows = [{"field": name, "encoding": f"{enc:#06x}", "value": self.vmread(enc),
                 "changed": name in self.changed_at_exit} for name, enc in FIELDS.items()]
        for r in rows:  # (vlab keeps the bitmaps themselves beside the fields)
            if r["field"] == "IO_BITMAP_A":
                r["meaning"] = "ports that exit (bitmaps A and B): " + self.io_exit_ports()
        return rows

    def __repr__(self) -> str:
        controls = [n for f in CONTROL_BITS for n in CONTROL_BITS[f] if self.control(n)]
        return f"<Vmcs controls={controls} exit_reason={self.vmread('VM_EXIT_REASON')}>"
