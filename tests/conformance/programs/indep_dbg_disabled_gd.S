# title: a data breakpoint with L0 = G0 = 0 never fires; enabled by G0 it does; DR7.GD makes the next MOV from DR6 a #DB fault (EIP at the MOV, DR6.BD = 1) and the CPU clears GD on delivering it
# sdm: vol. 3B 18.2.4 "Debug Control Register (DR7)" (L0/G0 enable breakpoint 0; "GD (general detect enable) flag (bit 13) - ... causes a debug exception to be generated prior to any MOV instruction that accesses a debug register ... the BD flag in debug status register DR6 is set prior to generating the exception ... The processor clears the GD flag upon entering to the debug exception handler"); 18.2.3 (DR6.BD, bit 13); 18.3.1.3 "General-Detect Exception Condition" (a fault); table 18-2 (a breakpoint needs Bn and (Gn or Ln))
# paravirt: n/a the debug registers (MOV DR, and its own #DB gate in the IDT): the hypervisor's (Xen's set_debugreg is not in vlab)
# expect:
# | L0 = G0 = 0: no exception
# | exception 1, eip +10
# | G0: DR6 & 0xe00f = 0x00000001
# | exception 1, eip +0
# | GD: DR6 & 0xe00f = 0x00002000
# | DR7 & 0x000f2003 = 0x000d0002
# | done
.include "conf.inc"
main:
    xor eax, eax
    mov dr6, eax
    mov dr1, eax
    mov dr2, eax
    mov dr3, eax
    mov eax, offset var
    mov dr0, eax
    mov eax, 0x000D0000                 # R/W0 = 01, LEN0 = 11, but L0 = G0 = 0
    mov dr7, eax
    MARK 1f                             # (a #DB would print "exception 1" and continue at 2f)
    RESUME 2f
1:  mov dword ptr [var], 1
    PRINT "L0 = G0 = 0: no exception\n"
    mov dword ptr [resume], 0
    xor eax, eax
    mov dr6, eax
    mov eax, 0x000D0002                 # the same with G0
    mov dr7, eax
    MARK 3f
    RESUME 4f
3:  mov dword ptr [var], 2              # 10 bytes: C7 05 disp32 imm32
4:  mov eax, dr6
    and eax, 0xE00F
    SHOW "G0: DR6 & 0xe00f = ", eax
    xor eax, eax
    mov dr6, eax
    mov eax, 0x000D2002                 # G0 and GD
    mov dr7, eax
    MARK 5f
    RESUME 6f
    xor eax, eax
5:  mov eax, dr6                        # #DB (fault) before it runs
6:  mov eax, dr6                        # GD now clear: runs
    and eax, 0xE00F
    SHOW "GD: DR6 & 0xe00f = ", eax
    mov eax, dr7
    and eax, 0x000F2003
    SHOW "DR7 & 0x000f2003 = ", eax
    xor eax, eax
    mov dr7, eax
    PRINT "done\n"
    EXIT 0
2:  PRINT "disabled breakpoint fired\n"
    EXIT 1
.section .data
.align 4
var: .long 0
