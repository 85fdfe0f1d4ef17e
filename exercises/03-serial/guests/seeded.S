# Prints a number the grader plants fresh for every grading (at `seed`): output that no one can
# know in advance, so only a handler that really carries the guest's OUTs to the console (and
# answers its IN polls) reproduces it.
.include "vlab.inc"
.section .text
.globl _start
_start:
    PRINT "the grader's number: "
    mov eax, [seed]
    call putdec
    call newline
    PRINT "in hex: "
    mov eax, [seed]
    call puthex
    call newline
    EXIT 0

.section .data
.align 4
seed: .long 0
.include "lib.inc"
