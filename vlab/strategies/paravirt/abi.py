"""The paravirtual ABI between the PV kernel and vlab's hypervisor (as Xen's x86-32 ABI).

Hypercall numbers, shared-info layout, mmuext_op commands and error numbers: what
``vlab/guests/include/kernel.inc`` assembles against (xen/include/public/xen.h where Xen has one).
"""

PV_SIGNATURE = b"VLAB-PV1"  # at entry + 2, after a short jump over it
HYPERCALL_VECTOR = 0x82
SYSCALL_VECTOR = 0x80  # the one vector Xen x86-32 gives a fast trap (a direct gate)
SHARED_INFO = 0x1000  # vcpu_info: +0 upcall_pending, +1 upcall_mask (as Xen's vcpu_info)
SHARED_CR2 = SHARED_INFO + 8  # vcpu_info.arch.cr2: where a #PF's address is handed over
# mmuext_op commands (xen/include/public/xen.h)
MMUEXT_PIN_L2_TABLE, MMUEXT_UNPIN_TABLE, MMUEXT_NEW_BASEPTR = 1, 4, 5
MMUEXT_TLB_FLUSH_LOCAL, MMUEXT_INVLPG_LOCAL = 6, 7
_MMUEXT_NAMES = {1: "pin_l2_table", 4: "unpin_table", 5: "new_baseptr", 6: "tlb_flush_local",
                 7: "invlpg_local"}
ENOSYS, EFAULT, EINVAL, EPERM = -38, -14, -22, -1

#: Xen's hypercall numbers (xen/include/public/xen.h) for the calls vlab implements.
HYPERCALLS = {0: "set_trap_table", 1: "mmu_update", 2: "set_gdt", 3: "stack_switch",
              4: "set_callbacks", 13: "multicall", 15: "set_timer_op", 18: "console_io",
              23: "iret", 26: "mmuext_op", 29: "sched_op"}
NUMBERS = {name: n for n, name in HYPERCALLS.items()}
_ARGS = {  # argument names, for the trace
    "set_trap_table": ("table",), "mmu_update": ("reqs", "count", "done", "domid"),
    "set_gdt": ("frames", "entries"), "stack_switch": ("ss", "esp"),
    "set_callbacks": ("event_cs", "event_eip", "failsafe_cs", "failsafe_eip"),
    "multicall": ("calls", "count"), "set_timer_op": ("period", "high"),
    "console_io": ("cmd", "count", "buffer"), "iret": (),
    "mmuext_op": ("ops", "count", "done", "domid"), "sched_op": ("cmd", "arg"),
}
