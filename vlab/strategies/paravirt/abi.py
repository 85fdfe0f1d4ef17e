"""The paravirtual ABI between the PV kernel and vlab's hypervisor (as Xen's x86-32 ABI).

Hypercall numbers, shared-info layout, mmuext_op commands and error numbers: what
``vlab/guests/include/kernel.inc`` assembles against (xen/include/public/xen.h where Xen has one).

vlab's own numbers, where Xen has none: ``blkring_op`` (56) sets up the paravirtual block ring
(:mod:`vlab.hw.blkring`). Xen's block front end shares its ring through grant tables and announces
it in XenStore, which vlab does not model; 56 lies above Xen's last architecture-specific number
(``__HYPERVISOR_arch_7``, 55) and inside its 64-entry table, so it is never one of Xen's calls.
Notifying the ring is Xen's own ``event_channel_op(EVTCHNOP_send)``, and its completions arrive
as Xen's events do: a bit in ``evtchn_pending``, ``evtchn_pending_sel`` and ``upcall_pending``,
then the upcall.
"""

PV_SIGNATURE = b"VLAB-PV1"  # at entry + 2, after a short jump over it
HYPERCALL_VECTOR = 0x82
SYSCALL_VECTOR = 0x80  # the one vector Xen x86-32 gives a fast trap (a direct gate)
SHARED_INFO = 0x1000  # vcpu_info: +0 upcall_pending, +1 upcall_mask (as Xen's vcpu_info)
SHARED_CR2 = SHARED_INFO + 8  # vcpu_info.arch.cr2: where a #PF's address is handed over
# Event channels (xen/include/public/xen.h, event_channel.h), x86-32 layout: vcpu_info[0] has
# evtchn_pending_sel (one bit per word of evtchn_pending) at +4; shared_info.evtchn_pending[]
# follows the 32 vcpu_info structures of 64 bytes, at +0x800
SHARED_EVTCHN_PENDING_SEL = SHARED_INFO + 4
SHARED_EVTCHN_PENDING = SHARED_INFO + 0x800
EVTCHNOP_send = 4  # event_channel_op(EVTCHNOP_send, &{u32 port}): notify the other end
# blkring_op(cmd, ...) commands (vlab's own)
BLKRING_setup, BLKRING_capacity, BLKRING_status, BLKRING_reset = 0, 1, 2, 3
BLKRING_EVTCHN = 1  # the port the ring is bound to (Xen reserves port 0)
# mmuext_op commands (xen/include/public/xen.h)
MMUEXT_PIN_L2_TABLE, MMUEXT_UNPIN_TABLE, MMUEXT_NEW_BASEPTR = 1, 4, 5
MMUEXT_TLB_FLUSH_LOCAL, MMUEXT_INVLPG_LOCAL = 6, 7
_MMUEXT_NAMES = {1: "pin_l2_table", 4: "unpin_table", 5: "new_baseptr", 6: "tlb_flush_local",
                 7: "invlpg_local"}
ENOSYS, EFAULT, EINVAL, EPERM, ENODEV = -38, -14, -22, -1, -19

#: Xen's hypercall numbers (xen/include/public/xen.h) for the calls vlab implements.
XEN_HYPERCALLS = {0: "set_trap_table", 1: "mmu_update", 2: "set_gdt", 3: "stack_switch",
                  4: "set_callbacks", 13: "multicall", 15: "set_timer_op", 18: "console_io",
                  23: "iret", 26: "mmuext_op", 29: "sched_op", 32: "event_channel_op"}
#: vlab's own hypercalls (see the module's docstring for why 56).
VLAB_HYPERCALLS = {56: "blkring_op"}
HYPERCALLS = {**XEN_HYPERCALLS, **VLAB_HYPERCALLS}
NUMBERS = {name: n for n, name in HYPERCALLS.items()}
_ARGS = {  # argument names, for the trace
    "set_trap_table": ("table",), "mmu_update": ("reqs", "count", "done", "domid"),
    "set_gdt": ("frames", "entries"), "stack_switch": ("ss", "esp"),
    "set_callbacks": ("event_cs", "event_eip", "failsafe_cs", "failsafe_eip"),
    "multicall": ("calls", "count"), "set_timer_op": ("period", "high"),
    "console_io": ("cmd", "count", "buffer"), "iret": (),
    "mmuext_op": ("ops", "count", "done", "domid"), "sched_op": ("cmd", "arg"),
    "event_channel_op": ("cmd", "arg"), "blkring_op": ("cmd", "desc", "avail", "used", "size"),
}
