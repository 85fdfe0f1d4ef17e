# title: one instruction hitting two data breakpoints sets both B bits in DR6 with a single #DB: a dword store straddling DR0's and DR1's ranges (B0|B1), a MOVSD reading DR0's range (R/W=11) and writing DR2's (B0|B2)
# sdm: vol. 3B 18.2.3 "Debug Status Register (DR6)" (B0-B3: "set if the condition described for each breakpoint ... is true"; each condition met by the instruction sets its flag); 18.2.5 (any byte of the access in the range); 18.2.4 (R/Wn 01 writes, 11 reads or writes; LENn 11); 18.3.1.2 (trap: EIP after the instruction)
# paravirt: n/a the debug registers (MOV DR, and its own #DB gate in the IDT): the hypervisor's (Xen's set_debugreg is not in vlab)
# expect:
# | exception 1, eip +5
# | store across DR0 and DR1: DR6 & 0xe00f = 0x00000003
# | exception 1, eip +1
# | movsd DR0 -> DR2: DR6 & 0xe00f = 0x00000005
# | done
.include "conf.inc"
main:
    xor eax, eax
    mov dr6, eax
    mov dr3, eax
    mov eax, offset var                 # DR0: var .. var+3, R/W0 = 11 (reads or writes)
    mov dr0, eax
    mov eax, offset var + 4             # DR1: var+4 .. var+7, R/W1 = 01 (writes)
    mov dr1, eax
    mov eax, offset other               # DR2: other .. other+3, R/W2 = 01 (writes)
    mov dr2, eax
    mov eax, 0x0DDF0015                 # L0 L1 L2; LEN/RW: DR0 11/11, DR1 11/01, DR2 11/01
    mov dr7, eax
    MARK 1f
    RESUME 2f
    mov eax, 0x12345678
1:  mov dword ptr [var + 2], eax        # bytes var+2 .. var+5 (5 bytes: A3 moffs32)
2:  mov eax, dr6
    and eax, 0xE00F
    SHOW "store across DR0 and DR1: DR6 & 0xe00f = ", eax
    xor eax, eax
    mov dr6, eax
    cld
    mov esi, offset var                 # read var .. var+3 (DR0), write other .. other+3 (DR2)
    mov edi, offset other
    MARK 3f
    RESUME 4f
3:  movsd
4:  mov eax, dr6
    and eax, 0xE00F
    SHOW "movsd DR0 -> DR2: DR6 & 0xe00f = ", eax
    xor eax, eax
    mov dr7, eax
    PRINT "done\n"
    EXIT 0
.section .data
.align 16
var:   .long 0, 0, 0, 0
other: .long 0, 0, 0, 0
