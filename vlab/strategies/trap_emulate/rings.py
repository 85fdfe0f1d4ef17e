"""Ring deprivileging: how a monitor in ring 0 runs a kernel that believes it is in ring 0.

The guest kernel really runs at CPL 1 (its user tasks stay at CPL 3); the monitor keeps the
tables the core uses to itself, and shows the guest the ones it believes in:

- **the GDT**: the core loads the monitor's GDT, a *shadow* of the guest's in which every DPL-0
  code and data descriptor becomes DPL 1, every DPL-1 one DPL 2 (code the guest runs in its ring
  1 really runs in ring 2, so that it stays less privileged than the kernel), and every limit
  stops below the monitor's area; the monitor's TSS, LDT and flat segments sit at its top.
  Only a guest that uses both rings 1 and 2 finds them merged (in ring 2). (Uhlig et al. 2005 call this *ring
  deprivileging*, here the 0/1/3 model; what they call *ring compression* is the problem it
  causes on x86-64, where paging protects only rings 0 and 3, so the kernel must share ring 3
  with its own applications: the 0/3/3 model.)
- **selectors**: the guest loads selectors with RPL 0; the core is given RPL 1 (``to_real``; RPL
  1 of a ring-1 segment becomes 2), and anything the guest reads back (an interrupt frame,
  ``mov eax, cs`` once translated) shows the guest's RPL again (``to_virtual``);
- **IDT, TSS, LDT, CR0**: the core runs with the monitor's; the guest's live in the virtual CPU.

The trap path that uses all this is in :mod:`vlab.strategies.trap_emulate` (``__init__.py``).
"""

from __future__ import annotations

from vlab import layout
from vlab.errors import GuestFault, VlabError
from vlab.monitor.dispatch import Monitor
from vlab.monitor.handlers import HandlerTable
from vlab.state import RF, TableRegister


class DeprivilegedMonitor(Monitor):
    """A monitor in ring 0 with the guest kernel deprivileged to ring 1: the tables the core
    really uses, and the selectors the guest believes in."""

    kernel_ring = 1
    monitor_runs_in = "ring 0"
    #: CR0 the monitor really runs with (PE, ET and NE): what SMSW reveals to the guest.
    REAL_CR0 = 0x31
    STATE_FIELDS = ("shadowed",)
    io_cost = "io_trap"  # what an I/O instruction costs (it traps at CPL 1 > IOPL 0)

    def __init__(self, handlers: HandlerTable | None = None):
        super().__init__(handlers)
        self.shadowed = False  # has the guest loaded its own GDT (now shadowed)?
        self._gdt_hook: int | None = None  # traces writes to the guest's GDT
        self._gdt_traced: tuple[int, int] | None = None
        self._gdt_dirty = False
        self._breakpoints: dict[int, int] = {}  # linear address -> code hook (the guest's DR0-3)

    # ------------------------------------------------------------------ set-up
    def attach(self, machine, trace) -> None:
        super().attach(machine, trace)
        v = self.vcpu
        v.to_real, v.to_virtual, v.on_gdt_change = self.to_real, self.to_virtual, self.shadow_gdt
        v.on_ldt_change = self.shadow_ldt
        v.on_debug_change = self.watch_breakpoints
        v.guest_cpl_of = _GUEST_CPL.__getitem__  # ring 1 is the kernel's "ring 0", 2 its ring 1
        machine.stopped.connect(lambda _: self.sync_accessed_bits())
        machine.slice_ended.connect(lambda _: self.reshadowed())

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
        self.write_monitor_gdt([gdt[i:i + 8] for i in range(0, len(gdt) - 8, 8)])
        m.cpu.load_table_registers(idtr=(layout.MONITOR_IDT, 0x7FF),
                                   ldtr=(layout.MONITOR_LDT_SELECTOR, layout.MONITOR_LDT, 7),
                                   tr=(layout.MONITOR_TSS_SELECTOR, layout.BOOT_TSS, 0x67))
        m.cpu.set_reg("cr0", self.REAL_CR0)
        m.cpu.deprivilege(cs=layout.RING1_CS, eip=m.cpu.eip, ss=layout.RING1_DS,
                          esp=m.cpu.reg("esp"), eflags=0x202)
        for seg in ("ds", "es", "fs", "gs"):
            m.cpu.set_reg(seg, layout.RING1_DS)
        m.core.flush()

    def write_monitor_gdt(self, entries: list[bytes]) -> None:
        """Load the GDT the core really uses: ``entries`` (the guest's, shadowed) below the
        monitor's own TSS, LDT, data and code descriptors at the top."""
        limit = layout.MONITOR_GDT_ENTRIES
        cap = (layout.MONITOR_BASE >> 12) - 1  # 4 KiB units: below the monitor's area
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
        for sel, access in ((layout.MONITOR_KERNEL_CS, 0xBB), (layout.MONITOR_KERNEL_DS, 0xB3)):
            table[sel & ~7:(sel & ~7) + 8] = layout.segment_descriptor(0, cap, access)
        self.machine.memory.write_physical(layout.MONITOR_GDT, bytes(table))
        self.machine.cpu.load_table_registers(gdtr=(layout.MONITOR_GDT, 8 * limit - 1))

    def shadow_gdt(self) -> None:
        """The guest loaded a GDT: build the shadow the core uses. Ring-0 code and data become
        ring 1 (ring deprivileging) and their limits stop below the monitor; system descriptors are
        not copied (the monitor emulates LTR and keeps its own TSS)."""
        v = self.vcpu
        count = (v.virt.GDTR.limit + 1) // 8
        raw = self.machine.memory.read_linear(v.virt.GDTR.base, 8 * count)
        self.write_monitor_gdt(_shadow_entries(raw, count))
        if not self.shadowed:
            self._leave_boot_twins()
        self.shadowed = True
        self._trace_gdt()

    def _leave_boot_twins(self) -> None:
        """The kernel booted on the boot GDT's ring-1 twins (0x19, 0x21) of the selectors it
        believes in (0x08, 0x10); in its own table those slots are its own (a ring-1 descriptor
        there is shadowed at DPL 2): the segment registers still holding a twin move to the
        monitor's copies of them, above the guest's table, as if nothing happened."""
        cpu = self.machine.cpu
        for seg in ("ds", "es", "fs", "gs"):
            if cpu.reg(seg) == layout.RING1_DS:
                cpu.set_reg(seg, layout.MONITOR_KERNEL_DS)
        if cpu.reg("cs") == layout.RING1_CS or cpu.reg("ss") == layout.RING1_DS:
            cs, ss = cpu.reg("cs"), cpu.reg("ss")
            cpu.enter(cs=layout.MONITOR_KERNEL_CS if cs == layout.RING1_CS else cs, eip=cpu.eip,
                      ss=layout.MONITOR_KERNEL_DS if ss == layout.RING1_DS else ss,
                      esp=cpu.reg("esp"), eflags=cpu.reg("eflags"))

    def shadow_ldt(self) -> None:
        """The guest loaded an LDT (LLDT): the core's LDTR gets a shadow of it, built as the
        shadow GDT is, in the monitor's LDT area (a null LDTR: the monitor's empty LDT)."""
        m = self.machine
        ldt = self.vcpu.guest_ldt()
        count = 1 if ldt is None else min((ldt[1] + 1) // 8, LDT_ENTRIES)
        raw = bytes(8) if ldt is None else m.memory.read_linear(ldt[0], 8 * count)
        entries = _shadow_entries(raw, count, keep_first=ldt is not None)
        m.memory.write_physical(layout.MONITOR_LDT, b"".join(entries))
        m.cpu.load_table_registers(ldtr=(layout.MONITOR_LDT_SELECTOR, layout.MONITOR_LDT,
                                         8 * count - 1))

    def load_state(self, state: dict) -> None:
        super().load_state(state)
        if self.shadowed:
            self._trace_gdt()
        self.watch_breakpoints()

    # ------------------------------------------------------------------ debug registers
    def watch_breakpoints(self) -> None:
        """The guest's debug registers are virtual (MOV DR traps at ring 1, and the core arms
        a breakpoint only when MOV to DR7 itself runs at ring 0): its enabled instruction
        breakpoints (DR7 L/G set, R/W = 00) become code hooks at their linear addresses, its
        data breakpoints the machine's watch (:mod:`vlab.hw.watch`)."""
        msrs, core = self.vcpu.virt.msrs, self.machine.core
        dr7 = msrs.get(0xD7, 0x400)
        self.machine.watch.arm([msrs.get(0xD0 + n, 0) for n in range(4)], dr7)  # data ones
        wanted: dict[int, int] = {}
        for n in range(4):
            if dr7 >> (2 * n) & 3 and not (dr7 >> (16 + 4 * n)) & 3:
                wanted.setdefault(msrs.get(0xD0 + n, 0) & 0xFFFF_FFFF, n)
        for address in [a for a in self._breakpoints if a not in wanted]:
            core.remove_hook(self._breakpoints.pop(address))
        for address, n in wanted.items():
            if address not in self._breakpoints:
                self._breakpoints[address] = core.on_execute(self._breakpoint_hit, address,
                                                             address, n)
                core.forget_code(address, address + 1)

    def _breakpoint_hit(self, uc, address: int, size: int, n: int) -> None:
        """SDM vol. 3B, 18.3.1.1: an instruction breakpoint is a fault before the instruction
        (none while EFLAGS.RF is set), with DR6.Bn set."""
        m = self.machine
        if m.cpu.system_flags() & RF or m.cpu.eip != address:
            return
        msrs = self.vcpu.virt.msrs
        msrs[0xD6] = (msrs.get(0xD6, 0xFFFF0FF0) & ~0xF) | (1 << n)
        m.clock.unretire()  # it faults before it runs
        try:
            self.vcpu.inject(1)
        except VlabError as e:
            m.clock.fail(e)

    # ------------------------------------------------------------------ tracing the GDT
    def _trace_gdt(self) -> None:
        """Watch the guest's GDT for stores (only its bytes: nothing else reaches Python): a
        descriptor the guest writes after LGDT must reach the shadow before it is loaded, as
        with a real CPU, which reads the table at each load."""
        base, limit = self.vcpu.virt.GDTR.base, self.vcpu.virt.GDTR.limit
        if self._gdt_traced == (base, limit):
            return
        core = self.machine.core
        if self._gdt_hook is not None:
            core.remove_hook(self._gdt_hook)
        self._gdt_hook = core.on_write(self._gdt_written, base, base + limit)
        self._gdt_traced = (base, limit)

    def _gdt_written(self, uc, access: int, address: int, size: int, value: int, _) -> None:
        """A guest store into its GDT (not yet done): the shadow is rebuilt before the next
        exit is handled, and when a load faults on the stale shadow (:meth:`reshadowed`)."""
        self._gdt_dirty = True

    def before_exit(self) -> None:
        if self._gdt_dirty:
            self.reshadowed()

    def reshadowed(self) -> bool:
        """Rebuild the shadow GDT if the guest wrote its GDT since; True if it was rebuilt."""
        if not (self._gdt_dirty and self.shadowed):
            return False
        self._gdt_dirty = False
        self.shadow_gdt()
        return True

    def descriptor_accessed(self, address: int) -> None:
        """The CPU loaded a shadow descriptor and set its Accessed bit: the guest's own
        descriptor is the one it believes was loaded, so it gets the bit at once."""
        index = address - layout.MONITOR_GDT
        if self.shadowed and 0 < index < layout.MONITOR_TSS_SELECTOR:
            self.vcpu.mark_accessed(index)

    def sync_accessed_bits(self) -> None:
        """The CPU sets a descriptor's Accessed bit when it loads it, but it loads the *shadow*:
        copy those bits back into the guest's own GDT (lazily: when a run stops)."""
        if not self.shadowed:
            return
        v, m = self.vcpu, self.machine
        count = min((v.virt.GDTR.limit + 1) // 8, layout.MONITOR_TSS_SELECTOR >> 3)
        shadow = m.memory.read_physical(layout.MONITOR_GDT, 8 * count)
        base = v.virt.GDTR.base
        guest = m.memory.read_linear(base, 8 * count)
        for i in range(1, count):
            if shadow[8 * i + 5] & 1 and guest[8 * i + 5] & 0x11 == 0x10:  # code/data, not A
                m.memory.write_linear(base + 8 * i + 5, bytes([guest[8 * i + 5] | 1]))

    # ------------------------------------------------------------------ selectors
    _BOOT_TWINS = {layout.KERNEL_CS: layout.RING1_CS, layout.KERNEL_DS: layout.RING1_DS}
    _BOOT_BACK = {v: k for k, v in _BOOT_TWINS.items()}
    _MONITOR_TWINS = {layout.MONITOR_KERNEL_CS: layout.KERNEL_CS,
                      layout.MONITOR_KERNEL_DS: layout.KERNEL_DS}

    def to_real(self, sel: int) -> int:
        """The selector the core really uses for one the guest believes in."""
        if not self.shadowed:
            return self._BOOT_TWINS.get(sel & ~3, sel) if sel & 3 == 0 else sel
        rpl = sel & 3
        if sel & 0xFFF8 and rpl < 2 and self.vcpu.guest_dpl(sel) == rpl:
            return sel + 1  # RPL 0 -> 1 and 1 -> 2 for its ring (RPL 3 stays the user's)
        return sel

    def to_virtual(self, sel: int) -> int:
        """The selector the guest should see for one the core really has."""
        if not self.shadowed:
            return self._BOOT_BACK.get(sel, sel)
        if sel in self._MONITOR_TWINS:  # (loaded before the guest's own GDT)
            return self._MONITOR_TWINS[sel]
        rpl = sel & 3
        if sel & 0xFFF8 and rpl in (1, 2) and self.vcpu.guest_dpl(sel) == rpl - 1:
            return sel - 1
        return sel


LDT_ENTRIES = 256  # the monitor's LDT area holds this many descriptors
_GUEST_CPL = (0, 0, 1, 3)  # the CPL the guest believes in, by the core's (0: the monitor's own)


def _shadow_entries(raw: bytes, count: int, keep_first: bool = False) -> list[bytes]:
    """The guest's descriptors as the deprivileged core needs them: ring-0 code and data move to
    ring 1, ring-1 ones to ring 2, 4-KiB-granular limits stop below the monitor's area; system
    descriptors (and the GDT's null entry) are left out."""
    entries = []
    for i in range(count):
        lo = int.from_bytes(raw[8 * i:8 * i + 4], "little")
        hi = int.from_bytes(raw[8 * i + 4:8 * i + 8], "little")
        if (i == 0 and not keep_first) or not hi & (1 << 12):  # null or system descriptor
            entries.append(bytes(8))
            continue
        if (hi >> 13) & 3 < 2:
            hi += 1 << 13  # DPL 0 -> 1, 1 -> 2
        if hi & (1 << 23):  # 4 KiB granularity: keep the limit below the monitor's area
            limit = ((hi & 0xF0000) | (lo & 0xFFFF))
            cap = (layout.MONITOR_BASE >> 12) - 1
            if limit > cap:
                lo = (lo & 0xFFFF0000) | (cap & 0xFFFF)
                hi = (hi & ~0xF0000) | (cap & 0xF0000)
        entries.append(lo.to_bytes(4, "little") + hi.to_bytes(4, "little"))
    return entries
