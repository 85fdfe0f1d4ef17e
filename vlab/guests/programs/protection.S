# Protection faults from ring 3, one at a time (notebook 01): IN, a ring-0 segment load, INT 0x0D, HLT
#
# A small kernel in the teaching kernel's mould (its GDT, a TSS, an IDT) starts a ring-3 task with
# IOPL 0. The task tries four things a user program may not do; each raises #GP, and the kernel's
# #GP handler prints the error code and resumes the task at the fix-up address its table gives for
# the faulting instruction (Linux's exception table works the same way). Then the task asks for
# ports 0x3F8-0x3FF with an ioperm system call: the kernel clears their bits in the TSS's I/O
# permission bitmap, and the same IN (and the console driver's OUT) now run at CPL 3.
#   SDM vol. 3A: 5.5 privilege levels, 5.6 data segment loads, 5.9 privileged instructions,
#   6.12.1 gate DPL for INT n, 6.13 error codes, 7.2.1 TSS; vol. 1: 19.5 I/O permission bitmap.

.include "vlab.inc"
.include "kernel.inc"

.set SYS_IOPERM, 1             # ebx = first port, ecx = how many: open them to ring 3
.set SYS_EXIT, 2               # end the task
.set IOMAP_PORTS, 0x400        # the bitmap covers ports 0-0x3FF; the TSS limit ends after it

.section .text
.globl _start
_start:
    mov esp, offset kernel_stack_top
    PRINT "protection demo: a ring-3 task and its #GP faults\n"

    # --- GDT and TSS: the TSS descriptor's limit must cover the I/O bitmap (and its last byte).
    mov word ptr [gdt_tss], tss_end - tss - 1
    LOAD_SEGMENTS
    mov dword ptr [tss + 4], offset kernel_stack_top    # ESP0: the stack for ring 3 -> 0
    mov dword ptr [tss + 8], KERNEL_DS                  # SS0
    mov word ptr [tss + 0x66], iomap - tss              # where the I/O bitmap starts
    mov ax, TSS_SELECTOR
    ltr ax

    # --- IDT: #GP to its handler, every other exception fatal, int 0x80 open to ring 3.
    xor eax, eax
.Lfill_idt:
    lea edi, [idt + eax * 8]
    mov ebx, offset unexpected_exception
    mov [edi], bx
    mov word ptr [edi + 2], KERNEL_CS
    mov word ptr [edi + 4], 0x8E00      # present, DPL 0, 32-bit interrupt gate
    shr ebx, 16
    mov [edi + 6], bx
    inc eax
    cmp eax, 32
    jb .Lfill_idt
    SET_GATE idt, 13, gp_handler, 0x8E
    SET_GATE idt, SYSCALL_VECTOR, syscall_handler, 0xEE   # DPL 3: "int 0x80" from ring 3
    lidt [idt_desc]

    # --- Ring 3, IOPL 0 (EFLAGS = 0x2: IOPL bits 13:12 are 0), interrupts off.
    mov ax, USER_DS
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    push USER_DS                        # SS
    push offset user_stack_top          # ESP
    push 0x2                            # EFLAGS
    push USER_CS                        # CS
    push offset user_main               # EIP
    iretd

# ---------------------------------------------------------------- the ring-3 task
user_main:
    mov dx, SERIAL_LSR
user_in:
    in al, dx                           # CPL 3 > IOPL 0 and the port's bitmap bit is 1: #GP(0)
user_in_end:
    mov ax, KERNEL_DS
user_mov_ds:
    mov ds, ax                          # DPL 0 < max(CPL 3, RPL 0): #GP(0x10), the selector
user_mov_ds_end:
user_int:
    int 0x0D                            # gate DPL 0 < CPL 3: #GP(0x6A) = 13 * 8 + 2 (IDT)
user_int_end:
user_hlt:
    hlt                                 # privileged (CPL 0 only): #GP(0)
user_hlt_end:
    mov eax, SYS_IOPERM                 # ask for the serial port, as Linux's ioperm(2)
    mov ebx, SERIAL
    mov ecx, 8
    int 0x80
user_in_again:
    in al, dx                           # now allowed: bitmap bits 0x3F8-0x3FF are 0
    PRINT "ring 3 writes to the serial port itself after ioperm\n"
    mov eax, SYS_EXIT
    int 0x80

# ---------------------------------------------------------------- ring 0
# #GP: from ring 3, print the error code and resume at the fix-up for the faulting EIP.
# Frame (SDM 6.12.1): error code, EIP, CS, EFLAGS, ESP, SS (the last two: from ring 3 only).
gp_handler:
    push eax
    push esi
    mov eax, [esp + 16]                 # saved CS
    and eax, 3
    cmp eax, 3
    jne kernel_fault
    KERNEL_DATA_SEGMENTS                # DS may hold anything the task loaded
    PRINT "#GP from ring 3 at "
    mov eax, [esp + 12]                 # saved EIP
    call puthex
    PRINT ", error code "
    mov eax, [esp + 8]
    call puthex
    call newline
    mov eax, [esp + 12]
    mov esi, offset fixups
.Lfind_fixup:
    cmp dword ptr [esi], 0
    je kernel_fault
    cmp [esi], eax
    je .Lfixup_found
    add esi, 8
    jmp .Lfind_fixup
.Lfixup_found:
    mov eax, [esi + 4]
    mov [esp + 12], eax                 # resume after the faulting instruction
    mov ax, USER_DS                     # the task's data segments back
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    pop esi
    pop eax
    add esp, 4                          # drop the error code
    iretd

kernel_fault:
    KERNEL_DATA_SEGMENTS
    PRINT "#GP in the kernel (or no fix-up): kernel stops\n"
    EXIT 2

unexpected_exception:
    KERNEL_DATA_SEGMENTS
    PRINT "unexpected exception: kernel stops\n"
    EXIT 1

# System calls: eax = number (SYS_*).
syscall_handler:
    cmp eax, SYS_IOPERM
    je sys_ioperm
    cmp eax, SYS_EXIT
    je sys_exit
    mov eax, -1
    iretd
sys_ioperm:                             # clear the bitmap bits of ports ebx .. ebx + ecx - 1
                                        # (Linux first checks the caller for CAP_SYS_RAWIO)
    push ebx
    push ecx
.Lioperm_next:
    cmp ebx, IOMAP_PORTS                # ports past the bitmap stay denied
    jae .Lioperm_done
    btr dword ptr [iomap], ebx
    inc ebx
    loop .Lioperm_next
.Lioperm_done:
    pop ecx
    pop ebx
    xor eax, eax
    iretd
sys_exit:
    KERNEL_DATA_SEGMENTS
    mov esp, offset kernel_stack_top
    PRINT "task done\n"
    EXIT 0

.include "lib.inc"

# ---------------------------------------------------------------- data
.section .data
    KERNEL_GDT
.align 4
fixups:                                 # faulting EIP -> where the task resumes
    .long user_in, user_in_end
    .long user_mov_ds, user_mov_ds_end
    .long user_int, user_int_end
    .long user_hlt, user_hlt_end
    .long 0
.align 16
tss:            .space 0x68
iomap:          .fill IOMAP_PORTS / 8, 1, 0xFF   # 1 = denied: every port, until ioperm
                .byte 0xFF                       # the byte the CPU may read past the end
tss_end:
.align 8
idt:            .space (SYSCALL_VECTOR + 1) * 8
.align 16
                .space 4096
user_stack_top:
                .space 4096
kernel_stack_top:
