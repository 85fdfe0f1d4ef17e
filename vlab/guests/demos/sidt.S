# SIDT: stores the IDTR without privilege (after loading our own IDT)
# Demo guest: runs at CPL 0 natively; under a monitor it shows what the guest can observe.
.include "vlab.inc"
.section .text
.globl _start
_start:
    lidt [idt_desc]                     # privileged: a monitor emulates it
    sidt [buf]                          # sensitive, unprivileged: which IDTR do we see?
    PRINT "SIDT: base = "
    mov eax, [buf + 2]
    call puthex
    PRINT " limit = "
    movzx eax, word ptr [buf]
    call puthex
    call newline
    EXIT 0
.align 4
    .word 0
idt_desc: .word 0x7FF
          .long 0x00080000
buf: .space 8
    EXIT 0
.include "lib.inc"
