# title: a DR1 data-write breakpoint (4 bytes): #DB as a trap after the store (EIP after it), DR6.B1=1, the value written
# sdm: vol. 3A 18.2.4 (R/W1=01 write, LEN1=11 4 bytes), 18.3.1.2 "Data Memory and I/O Breakpoint Exception Conditions" (trap)
# paravirt: n/a the debug registers (MOV DR, and its own #DB gate in the IDT): the hypervisor's (Xen's set_debugreg is not in vlab)
# expect:
# | exception 1, eip +10
# | DR6 & 0xe00f = 0x00000002
# | var = 0x00000005
.include "conf.inc"
main:
    xor eax, eax
    mov dr6, eax
    mov eax, offset var
    mov dr1, eax
    mov eax, 0x00D00304                 # L1; R/W1=01, LEN1=11; LE, GE
    mov dr7, eax
    MARK 1f
    RESUME 2f
1:  mov dword ptr [var], 5              # 10 bytes: C7 05 disp32 imm32
2:  xor eax, eax
    mov dr7, eax
    mov eax, dr6
    and eax, 0xE00F
    SHOW "DR6 & 0xe00f = ", eax
    SHOW "var = ", [var]
    EXIT 0
.section .data
.align 4
var: .long 0
