"""What every monitor shares: turning the machine's events into Exits and running their handlers.

:class:`Monitor` is the base of every strategy that has a monitor (trap-and-emulate, binary
translation, VT-x, paravirtualization). It owns the virtual CPU and the handler table, builds each
:class:`~vlab.monitor.trace.Exit`, runs the handler with the checks a student needs (a handler that
raises or forgets to advance EIP stops the run with a :class:`~vlab.errors.HandlerError` naming
both), and records the exit with its cost. It is also where the machine's events arrive
(:class:`~vlab.hw.machine.MachineMonitor`): each strategy overrides the ones it intercepts.
"""

from __future__ import annotations

import copy
from operator import attrgetter
from types import MappingProxyType

from vlab.errors import GuestError, GuestException, HandlerError, VlabError
from vlab.hw import checks, paging
from vlab.hw.delivery import DeliveryView
from vlab.hw.machine import BareMetal
from vlab.isa import Instruction, operands
from vlab.monitor import qualification as q
from vlab.monitor.base import Strategy
from vlab.monitor.handlers import Handler, HandlerTable, default_handlers
from vlab.monitor.shadow import FaultRecord, ShadowPager
from vlab.monitor.trace import COSTS, Exit, ExitReason, Outcome
from vlab.monitor.vcpu import _VIRT_FIELDS as _FIELDS
from vlab.monitor.vcpu import GuestView, VirtualCpu
from vlab.state import DF, TF

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
_EMULATES = MUST_ADVANCE | MUST_MOVE

#: The virtual state's stored fields (all but the CPL, which follows the real CS), read at once.
_STORED_FIELDS = tuple(name for name in _FIELDS if name != "CPL")
_STORED = attrgetter(*_STORED_FIELDS)

_NO_DETAIL: MappingProxyType = MappingProxyType({})
_new_exit = object.__new__


def cr_qualification(insn: Instruction, lmsw_source: int = 0) -> int:
    """Intel's CR-access qualification for MOV CR / CLTS / LMSW (SDM vol. 3, table 28-3);
    ``lmsw_source`` is LMSW's 16-bit operand (bits 31:16 of the qualification)."""
    if insn.mnemonic == "clts":
        return q.encode_cr(0, 2)
    ops = operands(insn)
    if insn.mnemonic == "lmsw":
        return q.encode_cr(0, 3, lmsw_data=lmsw_source, lmsw_memory=ops[0].kind == "mem")
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


_STOS = {"stosb": 1, "stosw": 2, "stosd": 4}


def _loads_ss(exit_: Exit) -> bool:
    """Is the exit's instruction a MOV or POP to SS (which opens an interrupt shadow)?"""
    text = exit_.instruction
    return text.startswith(("mov ss,", "pop ss"))


def base_mnemonic(mnemonic: str) -> str:
    """The mnemonic without prefixes (Capstone writes "rep insb", "lock add")."""
    return mnemonic.rsplit(" ", 1)[-1]


class Monitor(Strategy, BareMetal):
    """What every monitor has: a virtual CPU, a handler table, and the dispatch of exits.

    The machine's events arrive here (``machine.monitor``); by default each is handled as the
    bare machine handles it (:class:`~vlab.hw.machine.BareMetal`), and each strategy overrides
    the ones it intercepts."""

    capabilities = frozenset({"virtual_cpu", "shadow_paging"})

    #: The name its state travels under in a snapshot.
    state_name = "monitor"

    def __init__(self, handlers: HandlerTable | None = None):
        super().__init__()
        self.handlers = handlers if handlers is not None else default_handlers()
        self._classified: dict[tuple[int, bytes], tuple[ExitReason | None, int]] = {}
        self._found: tuple[Exit | None, Handler | None] = (None, None)  # the last _exit's handler
        #: what _exit worked out for an exit of a kind, at a place, with given bytes
        self._templates: dict[tuple, tuple] = {}

    def attach(self, machine, trace) -> None:
        super().attach(machine, trace)
        self.vcpu = VirtualCpu(machine)
        self.pager: ShadowPager | None = None  # shadow page tables, once the guest pages
        self.vcpu.on_invlpg = self.invlpg
        machine.monitor = self  # the machine's events now come here
        machine.attach_state(self.state_name, self)  # snapshots (and step_back) carry our state

    # ------------------------------------------------------------------ SYSENTER
    def sysenter(self, insn: Instruction) -> None:
        """SYSENTER by the guest: the IA32_SYSENTER_* MSRs its kernel wrote are virtual (the
        real ones are the monitor's), so enter the guest kernel where they say, as the
        instruction would (SDM vol. 2B, SYSENTER: #GP(0) if IA32_SYSENTER_CS[15:2] is 0; else
        CS from that MSR, SS = CS + 8, EIP and ESP from theirs, IF cleared)."""
        m, msr = self.machine, self.sysenter_msr
        cs = msr(checks.SYSENTER_CS) & 0xFFFC
        if cs == 0:
            m.clock.defer_fault(13, 0)
            return
        view = self.sysenter_view()
        m.cpu.enter(view.loaded(cs), msr(checks.SYSENTER_EIP), view.loaded(cs + 8),
                    msr(checks.SYSENTER_ESP), view.entry_flags(m.cpu.reg("eflags"), True))
        self.entered_kernel()

    def entered_kernel(self) -> None:
        """The guest kernel was entered other than through an exit (SYSENTER)."""

    def msr_intercepted(self, msr: int, write: bool) -> bool:
        return True

    def sysenter_msr(self, index: int) -> int:
        """An IA32_SYSENTER_* MSR as the guest wrote it."""
        return self.vcpu.virt.msrs.get(index, 0) & 0xFFFF_FFFF

    def sysenter_view(self) -> DeliveryView:
        """Whose CPU SYSENTER changes: the guest's as this monitor keeps it."""
        return GuestView(self.vcpu)

    # ------------------------------------------------------------------ snapshots
    #: Plain attributes a snapshot carries, declared by each class that has some.
    STATE_FIELDS: tuple[str, ...] = ()

    def save_state(self) -> dict:
        """Everything the monitor keeps beside the machine: the virtual CPU, the trace, the
        shadow page tables, and each class's ``STATE_FIELDS``."""
        fields = {name: copy.deepcopy(getattr(self, name)) for cls in type(self).__mro__
                  for name in vars(cls).get("STATE_FIELDS", ())}
        return {"virt": copy.deepcopy(self.vcpu.virt), "trace": self.trace.save_state(),
                "pager": self.pager.save_state() if self.pager is not None else None,
                "fields": fields}

    def load_state(self, state: dict) -> None:
        """Put back what :meth:`save_state` saved (the machine has restored itself)."""
        self.vcpu.virt = copy.deepcopy(state["virt"])
        self.trace.load_state(state["trace"])
        for name, value in state["fields"].items():
            setattr(self, name, copy.deepcopy(value))
        if state["pager"] is None:
            if self.pager is not None:
                self.pager.flush_all()
            self.pager = None
            self.machine.memory.mmu = None
        else:
            if self.pager is None:
                self.pager = ShadowPager(self.machine, self.guest_paging_registers)
            self.pager.load_state(state["pager"])
            self.machine.memory.mmu = self.pager


    # ------------------------------------------------------------------ dispatch
    def _decode(self, eip: int) -> Instruction | None:
        try:
            return self.machine.memory.instruction(eip)
        except VlabError:
            return None

    def _exit(self, reason: ExitReason, eip: int, insn: Instruction | None, qual: int = 0,
              detail: dict | None = None, instruction_bytes: bool = True, cost: str = "trap",
              handler: str | None = None, cpl: int | None = None) -> Exit:
        """The complete, frozen record of one exit: what happened (reason, where, the decoded
        instruction and its qualification), which handler will run and what it costs.
        ``handler`` names monitor work that runs no handler from the table; ``cpl``, the CPL
        the guest believes in, if the caller knows it (else it is read).
        What depends only on the exit's kind, place and bytes (the instruction's text, the
        decoded detail, the handler found, the cost) is worked out once and remembered, while
        the handler table is unchanged: the same privileged instruction traps again and again."""
        key = None
        if handler is None and (detail is None or type(detail) is MappingProxyType):
            key = (reason, eip, None if insn is None else insn.raw, qual, instruction_bytes, cost)
            known = self._templates.get(key)
            table = self.handlers
            if known is not None and known[0] is detail and known[1] is table \
                    and known[2] == table.version:
                exit_ = _new_exit(Exit)  # (Exit.from_fields, inline)
                d = exit_.__dict__
                d.update(known[3])
                d["cpl"] = self.vcpu.virt.CPL if cpl is None else cpl
                d["index"] = self.trace.total
                self._found = (exit_, known[4])
                return exit_
        given = detail
        if reason == ExitReason.CR_ACCESS:
            detail = {**(detail or {}), "decoded": str(q.decode_cr(qual))}
        elif reason == ExitReason.IO_INSTRUCTION:
            detail = {**(detail or {}), "decoded": str(q.decode_io(qual))}
        if not detail:
            detail = _NO_DETAIL
        elif not isinstance(detail, MappingProxyType):  # (a read-only one, as a #GP's, is
            detail = MappingProxyType(dict(detail))  # shared: an exit keeps nothing new)
        raw = insn.raw if (insn is not None and instruction_bytes) else b""
        text = insn.text if insn is not None else ""
        fn = None
        if handler is None:
            fn = self.handlers.find(reason, text if raw else "", detail)
            handler = "" if fn is None else getattr(fn, "__name__", None) or repr(fn)
        cycles = self._cost(cost, reason, detail)
        exit_ = Exit.made(reason, eip, self.name, self.vcpu.virt.CPL if cpl is None else cpl,
                          text, raw, qual, handler, cycles, self.trace.total, detail, cost, insn)
        self._found = (exit_, fn)  # (dispatch runs this handler, unless the table changed)
        if key is not None:
            if len(self._templates) >= 4096:
                self._templates.clear()
            fields = dict(vars(exit_))  # (all but the CPL and the index, the same next time)
            self._templates[key] = (given, self.handlers, self.handlers.version, fields, fn)
        return exit_

    def dispatch(self, exit_: Exit, from_fault: bool = False) -> None:
        """Run the handler for one exit, check it, record it with what it did."""
        v = self.vcpu
        self.before_exit()
        built, handler = self._found
        if built is not exit_ or handler is None:
            handler = self.handlers.lookup(exit_)
            if handler is None:
                what = exit_.instruction or "no instruction"
                raise HandlerError(f"no handler for {exit_.reason.name} ({what}) at "
                                   f"EIP={exit_.eip:#010x} in the handler table")
        virt, regs, reason = v.virt, v._registers, exit_.reason  # noqa: SLF001 (its own)
        # what the handler changes, for the trace: the virtual state's fields, and the CPL the
        # guest believes in (a function of the real one: read again only if that one moved)
        before = _STORED(virt)
        real_cpl = regs.cpl()
        v.notes = {}
        # (after MOV SS or POP SS the trap waits one instruction, SDM vol. 3A, 6.8.3: the core
        # raises it itself after the next one)
        single_step = reason in _EMULATES and regs.system_flags() & TF \
            and not _loads_ss(exit_)
        v.exit = exit_
        v.advanced = False
        v.emulating_fault = from_fault
        try:
            handler(v, exit_)
        except GuestException as pf:
            # what the handler tried, the CPU refuses (a selector the guest may not use): the
            # guest gets the #GP the hardware would raise
            v.exit = None
            if not from_fault and exit_.raw:  # (a callout: the core counted the instruction,
                self.machine.clock.unretire()  # but it faulted, so it did not retire)
            reflected = self.reflect_fault(pf, exit_)
            self.after_exit(exit_)  # (the guest's handler for it must be scanned too)
            self.report_exit(exit_, Outcome(reflected=reflected, notes=v.notes))
            return
        except (GuestError, HandlerError):
            raise
        except VlabError as e:
            raise HandlerError(f"{exit_.handler} failed while handling {reason.name} at "
                               f"EIP={exit_.eip:#010x} ({exit_.instruction}): {e}") from e
        except Exception as e:
            raise HandlerError(f"{exit_.handler} raised {type(e).__name__}: {e} while handling "
                               f"{reason.name} at EIP={exit_.eip:#010x} "
                               f"({exit_.instruction})") from e
        finally:
            v.exit = None
        if not v.advanced:
            if reason in MUST_ADVANCE and regs.eip() == exit_.eip:
                raise HandlerError(f"{exit_.handler} left EIP at {exit_.eip:#010x}: it must "
                                   f"advance past '{exit_.instruction}' (call vcpu.skip())")
            if from_fault:
                self.machine.clock.retire()  # emulated (IRET, far transfer ...): it executed
        after = _STORED(virt)
        changes = None
        if after != before:
            changes = {n: (a, b) for n, a, b in zip(_STORED_FIELDS, before, after, strict=True)
                       if a != b}
            if "CR0" in changes or "CR3" in changes or "CR4" in changes:
                self.control_registers_changed()
        if regs.cpl() != real_cpl:
            cpl_before, cpl_after = v.guest_cpl(real_cpl), virt.CPL
            if cpl_before != cpl_after:
                if changes is None:
                    changes = {}
                changes["CPL"] = (cpl_before, cpl_after)
        self.after_exit(exit_)
        notes = v.notes
        if changes or notes:
            self.report_exit(exit_, Outcome(changes or {}, notes=notes))
        else:
            self.report_exit(exit_)
        if single_step:  # TF was set: the CPU would trap (#DB) after this instruction (as KVM
            self.single_step_trap()  # does after skipping an emulated instruction)

    def before_exit(self) -> None:
        """Bring the monitor's own structures up to date before a handler looks at them."""

    def record(self, exit_: Exit) -> None:
        """Record work the monitor did on its own (``_exit(..., handler=...)``: no handler from
        the table runs)."""
        self.report_exit(exit_)

    def single_step_trap(self) -> None:
        """Deliver the #DB the hardware raises after an instruction executed with TF set."""
        self.vcpu.inject(1)

    def reflect_fault(self, fault: GuestException, exit_: Exit) -> str:
        """Give the guest the exception its instruction would have raised on hardware; returns
        what was reflected (for the trace)."""
        self.vcpu.inject(fault.vector, fault.error_code)
        return f"vector {fault.vector}: {fault.reason}"

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

    def emulate_page_table_store(self, eip: int, rec) -> bool:
        """Do the guest's store into one of its page tables (which the shadow protects) for it,
        and step past it, as KVM emulates such writes. Re-running the store instead can never
        succeed when the code doing it is mapped by that same table: fetching the code again
        shadows the table, and so protects it, again. MOV and single STOS stores only (False
        for anything else: it is re-run as before)."""
        insn = self._decode(eip)
        if insn is None or rec.guest is None or rec.guest.physical is None:
            return False
        v, ops, mn = self.vcpu, operands(insn), base_mnemonic(insn.mnemonic)
        if mn == "mov" and len(ops) == 2 and ops[0].kind == "mem" and ops[1].kind != "mem":
            size = ops[0].size
            value = ops[1].value if ops[1].kind == "imm" else v.regs[ops[1].reg]
        elif mn in _STOS and mn == insn.mnemonic:  # (not REP STOS)
            size, value = _STOS[mn], v.regs.eax
        else:
            return False
        if (rec.linear & 0xFFF) + size > 0x1000:
            return False  # a store across two pages: re-run it
        self.machine.memory.write_physical(rec.guest.physical,
                                           (value & ((1 << 8 * size) - 1)).to_bytes(size, "little"))
        if mn in _STOS:
            step = -size if v.regs.eflags & DF else size
            v.regs.edi = (v.regs.edi + step) & 0xFFFF_FFFF
        self.machine.cpu.set_reg("eip", eip + insn.size)
        self.machine.clock.retire()
        return True

    def page_faults(self) -> list:
        return list(self.pager.recent) if self.pager is not None else []

    def memory_summary(self) -> dict:
        return self.pager.summary() if self.pager is not None else {}

    def page_tables(self, limit: int = 24) -> dict[str, list[tuple[int, int, int]]]:
        """The guest's tables, and beside them the shadow's the core really walks."""
        pager = self.pager
        if pager is None or not pager.enabled():
            return super().page_tables(limit)
        out = {"guest": paging.mapped_pages(self.machine.memory.table_u32, pager.guest()[1],
                                            limit)}
        root = pager.shadow_root()
        if root is not None:
            out["shadow"] = paging.mapped_pages(pager.read_shadow, root, limit)
        return out

    def prepare_descriptor_read(self, linear: int, write: bool) -> None:
        """(See :class:`~vlab.hw.machine.MachineMonitor`.) Under shadow paging: fill it."""
        if self.pager is not None and self.pager.active is not None:
            self.pager.prefault(linear, write)

    def invlpg(self, linear: int) -> None:
        """INVLPG reached the monitor: drop that shadow mapping."""
        if self.pager is not None and self.pager.active is not None:
            self.pager.invlpg(linear)

    def _cost(self, kind: str, reason: ExitReason, detail: dict) -> int:
        """The exit's modelled cycles: its kind's, plus reflecting the event into the guest for
        an exception or INT n (not for a page fault the monitor fixes and the guest never sees:
        a hidden fault, a page-table write let through)."""
        cycles = COSTS[kind].cycles
        if reason in (ExitReason.EXCEPTION_NMI, ExitReason.SOFTWARE_INTERRUPT) and \
                detail.get("page_fault") not in ("hidden", "pt_write"):
            cycles += COSTS["inject"].cycles
        return cycles

