# title: a DR0 instruction breakpoint: #DB as a fault before the instruction runs (EIP at it), DR6.B0=1
# sdm: vol. 3A 18.2.4 (DR7 L0, R/W0=00, LEN0=00), 18.2.3 (DR6 B0), 18.3.1.1 "Instruction-Breakpoint Exception Condition" (fault; RF to resume)
# paravirt: n/a the debug registers (MOV DR, and its own #DB gate in the IDT): the hypervisor's (Xen's set_debugreg is not in vlab)
# expect:
# | #DB at +0, DR6[15:0] & 0xe00f = 0x00000001
# | breakpointed instruction ran: eax = 0x00000007
.include "conf.inc"
main:
    SET_GATE idt, 1, db, 0x8E
    xor eax, eax
    mov dr6, eax
    mov eax, offset 1f
    mov dr0, eax
    mov eax, 0x00000001                 # L0, execute, length 1
    mov dr7, eax
    MARK 1f
    xor eax, eax
1:  mov eax, 7
    mov ebx, eax
    xor eax, eax
    mov dr7, eax
    PRINT "#DB at +"
    mov eax, [db_eip]
    sub eax, [mark]
    call putdec
    PRINT ", DR6[15:0] & 0xe00f = "
    mov eax, [db_dr6]
    and eax, 0xE00F
    call puthex
    call newline
    SHOW "breakpointed instruction ran: eax = ", ebx
    EXIT 0
db:
    push eax
    mov eax, [esp + 4]
    mov [db_eip], eax
    mov eax, dr6
    mov [db_dr6], eax
    or dword ptr [esp + 12], 0x10000    # RF: do not fault again on the same instruction
    pop eax
    iretd
.section .data
db_eip: .long 0
db_dr6: .long 0
