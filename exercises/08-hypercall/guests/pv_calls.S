# Hostile and batched hypercalls: each result is stored in `results` for the test to read.
.set PV, 1
.include "vlab.inc"
.section .text
.globl _start
_start:
    jmp 1f
    .ascii "VLAB-PV1"
1:  mov edi, offset results
    mov eax, 99                         # no such hypercall: -ENOSYS
    int HYPERCALL_VECTOR
    stosd
    mov eax, __HYPERVISOR_console_io    # a buffer outside the guest: -EFAULT
    mov ebx, CONSOLEIO_write
    mov ecx, 16
    mov edx, 0x80000000
    int HYPERCALL_VECTOR
    stosd
    mov eax, __HYPERVISOR_console_io    # an unknown console command: -EINVAL
    mov ebx, 5
    int HYPERCALL_VECTOR
    stosd
    mov eax, __HYPERVISOR_set_gdt       # a ring-0 code segment: -EINVAL
    mov ebx, offset evil_gdt
    mov ecx, 2
    int HYPERCALL_VECTOR
    stosd
    mov eax, __HYPERVISOR_mmu_update    # map a frame the guest does not own: -EPERM
    mov ebx, offset evil_update
    mov ecx, 1
    int HYPERCALL_VECTOR
    stosd
    mov eax, __HYPERVISOR_multicall     # a batch pointer outside the guest: -EFAULT
    mov ebx, 0xFFFF0000
    mov ecx, 2
    int HYPERCALL_VECTOR
    stosd
    mov eax, __HYPERVISOR_multicall     # a batch: console_io "ok\n" and an unknown call
    mov ebx, offset batch
    mov ecx, 2
    int HYPERCALL_VECTOR
    stosd
    mov eax, [batch + 4]                # the batch's own results
    stosd
    mov eax, [batch + 32 + 4]
    stosd
    mov eax, __HYPERVISOR_console_io    # a direct, valid call: returns the bytes written
    mov ebx, CONSOLEIO_write
    mov ecx, 3
    mov edx, offset msg_ok
    int HYPERCALL_VECTOR
    stosd
    EXIT 0
.section .data
.align 8
evil_gdt:
    .quad 0
    .quad 0x00CF9A000000FFFF            # ring-0 code: the hypervisor must refuse it
evil_update:
    .quad 0x00002000                    # a page-table entry in guest memory ...
    .quad 0x40000001                    # ... mapping a frame far outside it
batch:
    .long __HYPERVISOR_console_io, 0, CONSOLEIO_write, 3, msg_ok, 0, 0, 0
    .long 77, 0, 0, 0, 0, 0, 0, 0
msg_ok: .ascii "ok\n"
.align 4
results: .fill 16, 4, 0xDEADBEEF         # not yet written
