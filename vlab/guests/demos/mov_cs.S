# MOV from CS: the RPL of CS reveals the real privilege level
# Demo guest: runs at CPL 0 natively; under a monitor it shows what the guest can observe.
.include "vlab.inc"
.section .text
.globl _start
_start:
    mov eax, cs                         # sensitive, unprivileged
    and eax, 3
    PRINT "MOV from CS: CPL = "
    call putdec
    call newline
    EXIT 0
.include "lib.inc"
