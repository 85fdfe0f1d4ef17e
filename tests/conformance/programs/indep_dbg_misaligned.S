# title: data breakpoints match any byte of a misaligned access: a dword store at DR0-2 and a word store at DR0+3 (DR0 a 4-byte write range) trap; stores just below and just above do not; a word read at DR0-1 traps under R/W=11; with LEN 2, a dword store at DR0-3 traps, a word store at DR0+2 does not
# sdm: vol. 3B 18.2.5 "Breakpoint Field Recognition" ("a data breakpoint for reading or writing data is triggered if any of the bytes participating in an access is within the range defined by a breakpoint address register and its LENn field"); 18.2.4 (R/W0 01 = data writes, 11 = data reads or writes; LEN0 11 = 4 bytes, 01 = 2 bytes; DR0 aligned); 18.3.1.2 (data breakpoints are traps: EIP after the instruction, DR6.B0 set)
# paravirt: n/a the debug registers (MOV DR, and its own #DB gate in the IDT): the hypervisor's (Xen's set_debugreg is not in vlab)
# expect:
# | exception 1, eip +10
# | dword at DR0-2: DR6 & 0xe00f = 0x00000001
# | exception 1, eip +9
# | word at DR0+3: DR6 & 0xe00f = 0x00000001
# | dword at DR0-4, word at DR0+4: DR6 & 0xe00f = 0x00000000
# | exception 1, eip +7
# | word read at DR0-1 (R/W=11): DR6 & 0xe00f = 0x00000001
# | exception 1, eip +10
# | LEN 2, dword at DR0-3: DR6 & 0xe00f = 0x00000001
# | LEN 2, word at DR0+2: DR6 & 0xe00f = 0x00000000
# | done
.include "conf.inc"
.macro DR6SHOW text
    mov eax, dr6
    and eax, 0xE00F
    SHOW "\text: DR6 & 0xe00f = ", eax
    xor eax, eax
    mov dr6, eax
.endm
main:
    xor eax, eax
    mov dr6, eax
    mov dr1, eax
    mov dr2, eax
    mov dr3, eax
    mov eax, offset var + 4             # DR0: var+4 .. var+7
    mov dr0, eax
    mov eax, 0x000D0001                 # L0; R/W0 = 01 (writes), LEN0 = 11 (4 bytes)
    mov dr7, eax
    MARK 1f
    RESUME 2f
1:  mov dword ptr [var + 2], 0x11223344 # bytes var+2 .. var+5 (10 bytes: C7 05 disp32 imm32)
2:  DR6SHOW "dword at DR0-2"
    MARK 3f
    RESUME 4f
3:  mov word ptr [var + 7], 0x5566      # bytes var+7 .. var+8 (9 bytes: 66 C7 05 disp32 imm16)
4:  DR6SHOW "word at DR0+3"
    mov dword ptr [var], 0              # bytes var .. var+3: just below
    mov word ptr [var + 8], 0           # bytes var+8 .. var+9: just above
    DR6SHOW "dword at DR0-4, word at DR0+4"
    mov eax, 0x000F0001                 # R/W0 = 11 (reads or writes), LEN0 = 11
    mov dr7, eax
    MARK 5f
    RESUME 6f
5:  mov bx, word ptr [var + 3]          # bytes var+3 .. var+4 (7 bytes: 66 8B 1D disp32)
6:  DR6SHOW "word read at DR0-1 (R/W=11)"
    mov eax, 0x00050001                 # R/W0 = 01, LEN0 = 01 (2 bytes: var+4 .. var+5)
    mov dr7, eax
    MARK 7f
    RESUME 8f
7:  mov dword ptr [var + 1], 0          # bytes var+1 .. var+4 (10 bytes)
8:  DR6SHOW "LEN 2, dword at DR0-3"
    mov word ptr [var + 6], 0           # bytes var+6 .. var+7: just above
    DR6SHOW "LEN 2, word at DR0+2"
    xor eax, eax
    mov dr7, eax
    PRINT "done\n"
    EXIT 0
.section .data
.align 16
var: .long 0, 0, 0, 0
