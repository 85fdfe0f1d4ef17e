"""What software monitors share: turning core events into Exits and dispatching them.

``SoftwareMonitor`` is the common base of trap-and-emulate and binary translation: it owns the
virtual CPU and the handler table, builds each :class:`~vlab.trace.Exit`, runs the handler with the
checks a student needs (a handler that raises or forgets to advance EIP stops the run with a
:class:`~vlab.errors.HandlerError` naming both), and records the exit with its cost.
"""

from __future__ import annotations

from vlab import layout
from vlab.errors import GuestError, GuestException, GuestFault, HandlerError, VlabError
from vlab.hw import paging
from vlab.isa import Instruction, decoder, operands
from vlab.monitor import qualification as q
from vlab.monitor.handlers import HandlerTable, default_handlers
from vlab.monitor.shadow import FaultRecord, ShadowPager
from vlab.monitor.trace import COSTS, Exit, ExitReason
from vlab.monitor.vcpu import _VIRT_FIELDS as _FIELDS
from vlab.monitor.vcpu import VirtualCpu
from vlab.state import TF, TableRegister
from vlab.strategies.base import Strategy

#: Exits for an instruction the monitor emulates: its handler must move EIP past it.
MUST_ADVANCE = frozenset({
    ExitReason.CLI, ExitReason.STI, ExitReason.HLT, ExitReason.CR_ACCESS,
    ExitReason.GDTR_IDTR_ACCESS, ExitReason.LDTR_TR_ACCESS, ExitReason.RDMSR, ExitReason.WRMSR,
    ExitReason.INVLPG, ExitReason.WBINVD, ExitReason.INVD, ExitReason.SEGMENT_LOAD,
    ExitReason.IO_INSTRUCTION, ExitReason.PRIVILEGED_INSTRUCTION, ExitReason.CPUID,
    ExitReason.DR_ACCESS,
    ExitReason.RDTSC, ExitReason.VMCALL, ExitReason.PUSHF, ExitReason.POPF, ExitReason.SMSW,
    ExitReason.DESCRIPTOR_READ, ExitReason.SEGMENT_READ, ExitReason.SEGMENT_CHECK,
})
#: Exits for a control transfer: the handler must send the guest somewhere else.
MUST_MOVE = frozenset({ExitReason.IRET, ExitReason.FAR_TRANSFER})

_GP_REASONS = {
    "cli": ExitReason.CLI, "sti": ExitReason.STI, "hlt": ExitReason.HLT,
    "clts": ExitReason.CR_ACCESS, "lmsw": ExitReason.CR_ACCESS,
    "lgdt": ExitReason.GDTR_IDTR_ACCESS, "lidt": ExitReason.GDTR_IDTR_ACCESS,
    "ltr": ExitReason.LDTR_TR_ACCESS, "lldt": ExitReason.LDTR_TR_ACCESS,
    "rdmsr": ExitReason.RDMSR, "wrmsr": ExitReason.WRMSR, "invlpg": ExitReason.INVLPG,
    "wbinvd": ExitReason.WBINVD, "invd": ExitReason.INVD, "iretd": ExitReason.IRET,
    "iret": ExitReason.IRET, "retf": ExitReason.FAR_TRANSFER, "ljmp": ExitReason.FAR_TRANSFER,
    "lcall": ExitReason.FAR_TRANSFER,
}


def cr_qualification(insn: Instruction) -> int:
    """Intel's CR-access qualification for MOV CR / CLTS / LMSW (SDM vol. 3, table 28-3)."""
    if insn.mnemonic == "clts":
        return q.encode_cr(0, 2)
    ops = operands(insn)
    if insn.mnemonic == "lmsw":
        return q.encode_cr(0, 3, lmsw_memory=ops[0].kind == "mem")
    dst, src = ops
    if dst.reg.startswith("cr"):
        return q.encode_cr(int(dst.reg[2:]), 0, src.reg)
    return q.encode_cr(int(src.reg[2:]), 1, dst.reg)


def io_qualification(insn: Instruction | None, port: int, size: int, is_in: bool) -> int:
    """Intel's I/O qualification (SDM vol. 3, table 28-5)."""
    immediate = insn is not None and insn.raw[-2:-1] != b"" and insn.raw[0] in (0xE4, 0xE5, 0xE6, 0xE7)
    string = insn is not None and base_mnemonic(insn.mnemonic).startswith(("ins", "outs"))
    rep = insn is not None and insn.mnemonic.startswith("rep")
    return q.encode_io(port, size, is_in, string=string, rep=rep, immediate=immediate)


def base_mnemonic(mnemonic: str) -> str:
    """The mnemonic without prefixes (Capstone writes "rep insb", "lock add")."""
    return mnemonic.rsplit(" ", 1)[-1]


class Monitor(Strategy):
    """What every monitor has: a virtual CPU, a handler table, and the dispatch of exits."""

    capabilities = frozenset({"virtual_cpu", "shadow_paging"})

    def __init__(self, handlers: HandlerTable | None = None):
        super().__init__()
        self.handlers = handlers if handlers is not None else default_handlers()
        self._classified: dict[tuple[int, bytes], tuple[ExitReason | None, int]] = {}

    def attach(self, machine, trace) -> None:
        super().attach(machine, trace)
        self.vcpu = VirtualCpu(machine)
        self.pager: ShadowPager | None = None  # shadow page tables, once the guest pages
        self.vcpu.on_invlpg = self.invlpg
        machine.monitor = self  # the machine's events now come here
        machine.restored.connect(lambda _: self._after_restore())

    # ------------------------------------------------------------------ the machine's events
    # (the defaults: as the bare machine does; each monitor overrides what it intercepts)
    maps_ram_on_demand = False

    def interrupt(self, vector: int, error_code: int | None, software: bool) -> None:
        """An interrupt or exception on the core."""
        from vlab.hw import delivery

        delivery.deliver(self.machine, vector, error_code, software)
        self.machine.clock.note_cpl()

    def io(self, is_out: bool, port: int, size: int, value: int) -> int:
        """Port I/O by the guest."""
        return self.machine.device_io(is_out, port, size, value)

    def interrupts_enabled(self) -> bool:
        """May an external interrupt be delivered now (the guest's IF, as the monitor keeps it)?"""
        return self.machine.cpu.real_if()

    def hlt(self) -> None:
        """The guest executed HLT on the core."""

    def unmapped_ram(self, access: str, address: int) -> bool:
        """Guest RAM the monitor left out of the core was touched."""
        return False

    def page_fault_raised(self, address: int) -> None:
        """vlab raised a #PF while delivering an event: the guest's CR2 is ``address``."""

    # ------------------------------------------------------------------ dispatch
    def _decode(self, eip: int) -> Instruction | None:
        try:
            return decoder().decode(self.machine.memory.code_bytes(eip), eip)
        except VlabError:
            return None

    def _exit(self, reason: ExitReason, eip: int, insn: Instruction | None, qual: int = 0,
              detail: dict | None = None, instruction_bytes: bool = True) -> Exit:
        detail = detail or {}
        if reason == ExitReason.CR_ACCESS:
            detail["decoded"] = str(q.decode_cr(qual))
        elif reason == ExitReason.IO_INSTRUCTION:
            detail["decoded"] = str(q.decode_io(qual))
        return Exit(reason=reason, eip=eip, strategy=self.name, cpl=self.vcpu.virt.CPL,
                    instruction=insn.text if insn else "",
                    raw=insn.raw if (insn is not None and instruction_bytes) else b"",
                    qualification=qual, index=self.trace.total, detail=detail)

    def dispatch(self, exit_: Exit, cost: str, from_fault: bool = False) -> None:
        """Run the handler for one exit, check it, record it."""
        v, m = self.vcpu, self.machine
        handler = self.handlers.lookup(exit_)
        if handler is None:
            what = exit_.instruction or "no instruction"
            raise HandlerError(f"no handler for {exit_.reason.name} ({what}) at "
                               f"EIP={exit_.eip:#010x} in the handler table")
        name = getattr(handler, "__name__", repr(handler))
        before = v.virt.values()
        emulates = exit_.reason in MUST_ADVANCE or exit_.reason in MUST_MOVE
        single_step = emulates and bool(m.cpu.reg("eflags") & TF)
        v.exit, v._skipped, v._from_fault = exit_, False, from_fault
        try:
            handler(v, exit_)
        except GuestException as pf:
            # what the handler tried, the CPU refuses (a selector the guest may not use): the
            # guest gets the #GP the hardware would raise
            v.exit = None
            self.reflect_fault(pf, exit_)
            self.report_exit(exit_)
            return
        except (GuestError, HandlerError):
            raise
        except VlabError as e:
            raise HandlerError(f"{name} failed while handling {exit_.reason.name} at "
                               f"EIP={exit_.eip:#010x} ({exit_.instruction}): {e}") from e
        except Exception as e:
            raise HandlerError(f"{name} raised {type(e).__name__}: {e} while handling "
                               f"{exit_.reason.name} at EIP={exit_.eip:#010x} "
                               f"({exit_.instruction})") from e
        finally:
            v.exit = None
        if exit_.reason in MUST_ADVANCE and not v._skipped and m.cpu.eip == exit_.eip:
            raise HandlerError(f"{name} left EIP at {exit_.eip:#010x}: it must advance past "
                               f"'{exit_.instruction}' (call vcpu.skip())")
        if from_fault and not v._skipped:
            m.clock.retire()  # emulated (IRET, far transfer ...): it executed, once
        after = v.virt.values()
        changes = {}
        if after != before:
            changes = {n: (a, b) for n, a, b in zip(_FIELDS, before, after, strict=True) if a != b}
        exit_.detail["changes"] = changes
        if "CR0" in changes or "CR3" in changes or "CR4" in changes:
            self.control_registers_changed()
        self.after_exit(exit_)
        # The record is completed here, before anyone else sees it (dataclasses.replace would
        # cost a microsecond per trap on the hot path); it is immutable from then on.
        object.__setattr__(exit_, "handler", name)
        object.__setattr__(exit_, "cost", self._cost(cost, exit_.reason))
        object.__setattr__(exit_, "kind", cost)
        self.report_exit(exit_)
        if single_step:  # TF was set: the CPU would trap (#DB) after this instruction (as KVM
            self.single_step_trap()  # does after skipping an emulated instruction)

    def record(self, exit_: Exit, cost: str, handler: str) -> None:
        """Record work the monitor did on its own (no handler from the table runs)."""
        object.__setattr__(exit_, "handler", handler)
        object.__setattr__(exit_, "cost", self._cost(cost, exit_.reason))
        object.__setattr__(exit_, "kind", cost)
        self.report_exit(exit_)

    def single_step_trap(self) -> None:
        """Deliver the #DB the hardware raises after an instruction executed with TF set."""
        self.vcpu.inject(1)

    def reflect_fault(self, fault: GuestException, exit_: Exit) -> None:
        """Give the guest the exception its instruction would have raised on hardware."""
        exit_.detail["reflected"] = f"vector {fault.vector}: {fault.reason}"
        self.vcpu.inject(fault.vector, fault.error_code)

    def after_exit(self, exit_: Exit) -> None:
        """Called after every handled exit (binary translation checks the new EIP)."""

    def control_registers_changed(self) -> None:
        """A handler changed the guest's CR0, CR3 or CR4 (paging may have to follow)."""

    # ------------------------------------------------------------------ shadow page tables
    def guest_paging_registers(self) -> tuple[int, int, int]:
        """CR0, CR3 and CR4 as the guest believes them (where this monitor keeps them)."""
        raise NotImplementedError

    def follow_guest_paging(self) -> bool:
        """The guest's CR0 or CR3 changed: with its paging on, point the core's CR3 at the
        shadow of its current directory (the pager is made on first use). True if it pages."""
        if self.guest_paging_registers()[0] & paging.PG:
            if self.pager is None:
                self.pager = ShadowPager(self.machine, self.guest_paging_registers)
                self.machine.memory.mmu = self.pager
            self.machine.cpu.set_reg("cr3", self.pager.sync())
            return True
        if self.pager is not None:
            self.pager.sync()
        return False

    def shadow_page_fault(self, error_code: int) -> tuple[int, FaultRecord, dict]:
        """Let the pager classify the #PF the core just raised (and fix a hidden one):
        (faulting EIP, the record, the exit's detail)."""
        m = self.machine
        linear = m.cpu.reg("cr2")
        eip = m.clock.fault_eip if m.clock.fault_eip is not None else m.cpu.eip
        rec = self.pager.page_fault(linear, error_code, eip, user=m.cpu.cpl() == 3)
        return eip, rec, {"vector": 14, "error_code": rec.error_code, "cr2": linear,
                          "page_fault": rec.kind, "fault": rec}

    def invlpg(self, linear: int) -> None:
        """INVLPG reached the monitor: drop that shadow mapping."""
        if self.pager is not None and self.pager.active is not None:
            self.pager.invlpg(linear)

    def _after_restore(self) -> None:
        if self.pager is not None:  # the shadows describe the old RAM: rebuild them lazily
            self.pager.flush_all()
            self.control_registers_changed()

    def _cost(self, kind: str, reason: ExitReason) -> int:
        cycles = COSTS[kind].cycles
        if reason in (ExitReason.EXCEPTION_NMI, ExitReason.SOFTWARE_INTERRUPT):
            cycles += COSTS["inject"].cycles
        return cycles


class SoftwareMonitor(Monitor):
    """A monitor in ring 0 with the guest kernel deprivileged to ring 1 (ring compression)."""

    kernel_ring = 1
    monitor = "ring 0"
    #: CR0 the monitor really runs with (PE, ET and NE): what SMSW reveals to the guest.
    REAL_CR0 = 0x31
    io_cost = "io_trap"  # what an I/O instruction costs (it traps at CPL 1 > IOPL 0)

    def __init__(self, handlers: HandlerTable | None = None):
        super().__init__(handlers)
        self.shadowed = False  # has the guest loaded its own GDT (now shadowed)?

    # ------------------------------------------------------------------ set-up
    def attach(self, machine, trace) -> None:
        super().attach(machine, trace)
        v = self.vcpu
        v.to_real, v.to_virtual, v.on_gdt_change = self.to_real, self.to_virtual, self.shadow_gdt
        machine.stopped.connect(lambda _: self.sync_accessed_bits())

    def interrupts_enabled(self) -> bool:
        return self.vcpu.effective_if()

    def page_fault_raised(self, address: int) -> None:
        self.vcpu.virt.CR2 = address

    def boot(self) -> None:
        """Deprivilege the guest: it starts at its entry point really at CPL 1, believing CPL 0.

        The monitor's own GDT (the boot descriptors, plus its TSS and LDT at the top), IDT and
        CR0 are what the core really uses; the guest's virtual registers hold what it believes.
        """
        m, v = self.machine, self.vcpu
        gdt = layout.boot_gdt()
        v.virt.GDTR = TableRegister(layout.BOOT_GDT, len(gdt) - 1)
        v.virt.TR = layout.TSS_SELECTOR
        v.virt.CR0 = m.cpu.reg("cr0")
        self._write_monitor_gdt([gdt[i:i + 8] for i in range(0, len(gdt) - 8, 8)])
        from unicorn import x86_const as X

        uc = m.core.uc
        uc.reg_write(X.UC_X86_REG_IDTR, (0, layout.MONITOR_IDT, 0x7FF, 0))
        uc.reg_write(X.UC_X86_REG_LDTR, (layout.MONITOR_LDT_SELECTOR, layout.MONITOR_LDT, 7, 0x8200))
        uc.reg_write(X.UC_X86_REG_TR, (layout.MONITOR_TSS_SELECTOR, layout.BOOT_TSS, 0x67, 0x8B00))
        uc.reg_write(X.UC_X86_REG_CR0, self.REAL_CR0)
        m.cpu.deprivilege(cs=layout.RING1_CS, eip=m.cpu.eip, ss=layout.RING1_DS, esp=m.cpu.reg("esp"),
                      eflags=0x202)
        for seg in ("ds", "es", "fs", "gs"):
            m.cpu.set_reg(seg, layout.RING1_DS)
        m.core.uc.ctl_flush_tb()

    def _write_monitor_gdt(self, entries: list[bytes]) -> None:
        limit = layout.MONITOR_GDT_ENTRIES
        self.machine.cpu.monitor_ss = layout.MONITOR_DS
        if len(entries) > layout.MONITOR_TSS_SELECTOR >> 3:
            raise GuestFault(f"the guest loaded a GDT of {len(entries)} entries; vlab's monitor "
                             f"shadows at most {layout.MONITOR_TSS_SELECTOR >> 3} (it keeps the "
                             "top of its GDT for itself)", self.machine.cpu.eip)
        table = bytearray(8 * limit)
        for i, e in enumerate(entries):
            table[8 * i:8 * i + 8] = e
        tss = layout.segment_descriptor(layout.BOOT_TSS, 0x67, 0x8B, 0x0)  # busy: TR holds it
        ldt = layout.segment_descriptor(layout.MONITOR_LDT, 7, 0x82, 0x0)
        table[layout.MONITOR_TSS_SELECTOR:layout.MONITOR_TSS_SELECTOR + 8] = tss
        table[layout.MONITOR_LDT_SELECTOR:layout.MONITOR_LDT_SELECTOR + 8] = ldt
        table[layout.MONITOR_DS:layout.MONITOR_DS + 8] = layout.segment_descriptor(0, 0xFFFFF, 0x92)
        table[layout.MONITOR_CS:layout.MONITOR_CS + 8] = layout.segment_descriptor(0, 0xFFFFF, 0x9A)
        self.machine.core.uc.mem_write(layout.MONITOR_GDT, bytes(table))
        from unicorn import x86_const as X

        self.machine.core.uc.reg_write(X.UC_X86_REG_GDTR, (0, layout.MONITOR_GDT, 8 * limit - 1, 0))

    def shadow_gdt(self) -> None:
        """The guest loaded a GDT: build the shadow the core uses. Ring-0 code and data become
        ring 1 (ring compression) and their limits stop below the monitor; system descriptors are
        not copied (the monitor emulates LTR and keeps its own TSS)."""
        v = self.vcpu
        count = (v.virt.GDTR.limit + 1) // 8
        raw = self.machine.memory.read_linear(v.virt.GDTR.base, 8 * count)
        entries = []
        for i in range(count):
            lo = int.from_bytes(raw[8 * i:8 * i + 4], "little")
            hi = int.from_bytes(raw[8 * i + 4:8 * i + 8], "little")
            if i == 0 or not hi & (1 << 12):  # null or system descriptor
                entries.append(bytes(8))
                continue
            if (hi >> 13) & 3 == 0:
                hi |= 1 << 13  # DPL 0 -> 1
            if hi & (1 << 23):  # 4 KiB granularity: keep the limit below the monitor's area
                limit = ((hi & 0xF0000) | (lo & 0xFFFF))
                cap = (layout.MONITOR_BASE >> 12) - 1
                if limit > cap:
                    lo = (lo & 0xFFFF0000) | (cap & 0xFFFF)
                    hi = (hi & ~0xF0000) | (cap & 0xF0000)
            entries.append(lo.to_bytes(4, "little") + hi.to_bytes(4, "little"))
        self._write_monitor_gdt(entries)
        self.shadowed = True

    def sync_accessed_bits(self) -> None:
        """The CPU sets a descriptor's Accessed bit when it loads it, but it loads the *shadow*:
        copy those bits back into the guest's own GDT (lazily: when a run stops)."""
        if not self.shadowed:
            return
        v, m = self.vcpu, self.machine
        count = min((v.virt.GDTR.limit + 1) // 8, layout.MONITOR_TSS_SELECTOR >> 3)
        shadow = m.core.uc.mem_read(layout.MONITOR_GDT, 8 * count)
        base = v.virt.GDTR.base
        guest = m.memory.read_linear(base, 8 * count)
        for i in range(1, count):
            if shadow[8 * i + 5] & 1 and guest[8 * i + 5] & 0x11 == 0x10:  # code/data, not A
                m.memory.write_linear(base + 8 * i + 5, bytes([guest[8 * i + 5] | 1]))

    # ------------------------------------------------------------------ paging (shadow tables)
    def control_registers_changed(self) -> None:
        """The guest turned paging on or off, or loaded CR3: the core follows with the shadow
        page tables (guest-virtual -> host-physical) for the guest's current directory."""
        if self.follow_guest_paging():
            self.machine.cpu.set_reg("cr0", self.REAL_CR0 | paging.PG | paging.WP)
        elif self.pager is not None:
            self.machine.cpu.set_reg("cr0", self.REAL_CR0)

    def guest_paging_registers(self) -> tuple[int, int, int]:
        virt = self.vcpu.virt
        return virt.CR0, virt.CR3, virt.CR4

    def page_fault(self, error_code: int) -> None:
        """A #PF under the shadow: hidden (the monitor fills the shadow and the guest retries),
        a page-table write (the shadows built from that frame are dropped), or true (the guest's
        own tables refuse the access: it gets the #PF, with CR2)."""
        eip, rec, detail = self.shadow_page_fault(error_code)
        if rec.kind == "true":
            self.vcpu.virt.CR2 = rec.linear
        self.dispatch(self._exit(ExitReason.EXCEPTION_NMI, eip, self._decode(eip), detail=detail,
                                 instruction_bytes=False), cost="trap")

    # ------------------------------------------------------------------ selectors
    _BOOT_TWINS = {layout.KERNEL_CS: layout.RING1_CS, layout.KERNEL_DS: layout.RING1_DS}
    _BOOT_BACK = {v: k for k, v in _BOOT_TWINS.items()}

    def to_real(self, sel: int) -> int:
        """The selector the core really uses for one the guest believes in."""
        if not self.shadowed:
            return self._BOOT_TWINS.get(sel & ~3, sel) if sel & 3 == 0 else sel
        if sel & 0xFFF8 and self.vcpu.guest_dpl(sel) == 0:
            return (sel & ~3) | 1
        return sel

    def to_virtual(self, sel: int) -> int:
        """The selector the guest should see for one the core really has."""
        if not self.shadowed:
            return self._BOOT_BACK.get(sel, sel)
        if sel & 3 == 1 and self.vcpu.guest_dpl(sel) == 0:
            return sel & ~3
        return sel

    def guest_view(self) -> dict:
        v = self.vcpu
        self._sync_cpl()
        return {"cpl": v.virt.CPL, "IF": v.effective_if(), **{k: v.virt.as_dict()[k] for k in
                ("CR0", "CR3", "GDTR", "IDTR", "TR", "LDTR", "IOPL")}}

    def _sync_cpl(self) -> None:
        self.vcpu.virt.CPL = 3 if self.machine.cpu.cpl() == 3 else 0

    # ------------------------------------------------------------------ events
    def interrupt(self, vector: int, error_code: int | None, software: bool) -> None:
        m = self.machine
        cpl = m.cpu.cpl()
        self.vcpu.virt.CPL = 3 if cpl == 3 else 0
        detail = {"vector": vector}
        if software:
            size = 1 if vector in (3, 4) else 2
            start = m.cpu.eip - size
            insn = decoder().decode(m.memory.read(start, size), start)
            self.dispatch(self._exit(ExitReason.SOFTWARE_INTERRUPT, start, insn, detail=detail,
                                     instruction_bytes=False), cost="trap")
            return
        if vector >= 32:
            self.dispatch(self._exit(ExitReason.EXTERNAL_INTERRUPT, m.cpu.eip, None, detail=detail),
                          cost="inject")
            return
        if vector == 14 and self.pager is not None and self.pager.active is not None:
            self.page_fault(error_code or 0)
            return
        eip = m.clock.fault_eip if m.clock.fault_eip is not None else m.cpu.eip
        insn = self._decode(eip)
        if vector == 13 and cpl == 1 and insn is not None:
            key = (eip, insn.raw)
            found = self._classified.get(key)
            if found is None:
                found = self._classified[key] = self.classify_fault(insn)
            reason, qual = found
            if reason is not None:
                self.dispatch(self._exit(reason, eip, insn, qual), cost="trap", from_fault=True)
                return
        if error_code is not None:
            detail["error_code"] = error_code
        self.dispatch(self._exit(ExitReason.EXCEPTION_NMI, eip, insn, detail=detail,
                                 instruction_bytes=False), cost="trap")

    def classify_fault(self, insn: Instruction) -> tuple[ExitReason | None, int]:
        """Which emulation a #GP at the deprivileged kernel asks for (None: a real fault)."""
        mn = insn.mnemonic
        if mn == "mov" and "dr" in insn.op_str and any(o.reg.startswith("dr") for o in operands(insn)):
            return ExitReason.DR_ACCESS, 0
        if mn == "mov" and "cr" in insn.op_str:
            return ExitReason.CR_ACCESS, cr_qualification(insn)
        if mn in ("clts", "lmsw"):
            return ExitReason.CR_ACCESS, cr_qualification(insn)
        if mn in ("mov", "pop") and operands(insn) and operands(insn)[0].reg in (
                "ss", "ds", "es", "fs", "gs"):
            return ExitReason.SEGMENT_LOAD, 0
        return _GP_REASONS.get(mn), 0

    def io(self, is_out: bool, port: int, size: int, value: int) -> int:
        m, v = self.machine, self.vcpu
        if m.cpu.cpl() == 3:  # the guest's user task: Unicorn has no IOPL check; as native
            return m.device_io(is_out, port, size, value)
        self._sync_cpl()
        eip = m.cpu.eip
        insn = self._decode(eip)
        if insn is None:  # bytes Capstone cannot decode (e.g. LOCK OUT): the core ran them; so
            return m.device_io(is_out, port, size, value)  # does the device, as natively
        exit_ = self._exit(ExitReason.IO_INSTRUCTION, eip, insn,
                           io_qualification(insn, port, size, not is_out), detail={"value": value})
        v._in_hook_io = True
        try:
            self.dispatch(exit_, cost=self.io_cost)
        finally:
            v._in_hook_io = False
        if is_out:
            return 0
        if "result" in exit_.detail:  # INS: the element goes to memory, not to EAX
            return exit_.detail["result"]
        return m.cpu.reg("eax") & ((1 << (8 * size)) - 1)
