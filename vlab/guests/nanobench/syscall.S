# nanobenchmark syscall: a null system call from ring 3 (INT 0x80, IRETD back), ITERATIONS times
# Adams & Agesen, ASPLOS 2006, sec. 6, figure 4 ("syscall"). The paper's 64-bit guest used
# SYSCALL/SYSRET; on 32-bit x86 the round trip is INT 0x80 through a DPL-3 gate and IRETD. VT-x
# runs both in the guest (no exit); a software monitor sees the INT from ring 3 and the
# kernel's return.
# Built with --defsym PV=1 (nano-syscall-pv) the gate is a trap-table entry (DPL 3, events not
# masked: the kind of entry Xen can install as a direct "fast trap" for int 0x80), and the
# kernel returns with a plain IRETD, ring 1 to ring 3, which needs no hypercall.
.include "nano.inc"
.set SYS_NULL, 1
.set SYS_DONE, 2
.section .text
.globl _start
_start:
    NANO_BOOT
.ifndef PV
    SET_GATE idt, SYSCALL_VECTOR, syscall_entry, 0xEE
.endif
    mov [kernel_esp], esp
    mov ax, USER_DS                     # ring-3 data segments (kept by the kernel too)
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    push USER_DS                        # SS
    push offset user_stack_top          # ESP
    push 0x2                            # EFLAGS: interrupts off (the timer is masked anyway)
    push USER_CS                        # CS
    push offset user                    # EIP
    KIRET

user:                                   # ring 3: nothing but system calls
    mov ecx, ITERATIONS
1:  mov eax, SYS_NULL
    int SYSCALL_VECTOR                  # the operation measured: a round trip to the kernel
    loop 1b
    mov eax, SYS_DONE
    int SYSCALL_VECTOR

syscall_entry:
    cmp eax, SYS_DONE
    je done
    inc dword ptr [calls]
    iretd                               # back to ring 3 (an outer return: from ring 1 too)
done:
    mov esp, [kernel_esp]               # abandon the user frame: back to the kernel
    KERNEL_DATA_SEGMENTS
    NANO_DONE calls
.include "lib.inc"
.section .data
.align 4
calls:      .long 0
kernel_esp: .long 0
.ifdef PV
trap_table:
    TRAP SYSCALL_VECTOR, 3, syscall_entry   # flags: DPL 3 (user may int 0x80), events not masked
    TRAP 13, 0, unexpected
    .long 0, 0
.endif
.align 16
            .space 1024
user_stack_top:
    NANO_DATA
