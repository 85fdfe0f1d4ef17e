# title: Robin & Irvine: POPF at ring 0 changes IOPL (and IF); at a lower ring it silently does not
# sdm: vol. 2B POPF ("... IOPL ... only if CPL = 0; IF only if CPL <= IOPL; otherwise unchanged, no exception")
# diverges: trap_emulate POPF at ring 1 does not trap and silently keeps the real IOPL/IF
# paravirt: n/a POPF at ring 0 changing IOPL and IF: only ring 0 may, and a PV kernel's IF and IOPL are the hypervisor's
# expect:
# | IOPL after popf = 0x00000003
# | IF after popf = 0x00000000
.include "conf.inc"
main:
    mov al, 0xFF
    out PIC_DATA, al
    push 0x3002                         # IOPL 3, IF 0
    popfd
    pushfd
    pop ebx
    push 0x0002
    popfd
    mov eax, ebx
    shr eax, 12
    and eax, 3
    SHOW "IOPL after popf = ", eax
    shr ebx, 9
    and ebx, 1
    SHOW "IF after popf = ", ebx
    EXIT 0
