# PUSHF: shows the real interrupt flag
# Demo guest: runs at CPL 0 natively; under a monitor it shows what the guest can observe.
.include "vlab.inc"
.section .text
.globl _start
_start:
    cli                                 # privileged: a monitor clears a *virtual* IF
    pushfd                              # sensitive: pushes the *real* EFLAGS
    pop eax
    shr eax, 9
    and eax, 1
    PRINT "PUSHF after CLI: IF = "
    call putdec
    call newline
    EXIT 0
.include "lib.inc"
