# A store that rewrites an earlier byte of the block it is in (a NOP over a NOP: the code stays
# the same, the core still abandons the block and runs the store again as a block of its own).
# When a deadline falls right after the store, the part of the block run before it ends with the
# store: it must retire once (tests/test_counting.py). 8 rounds of 6 instructions, then EXIT.
.include "vlab.inc"
.section .text
.globl _start
_start:
    mov esp, 0x90000
    mov ecx, 8
top:
    nop
    inc ebx
    mov byte ptr [top], 0x90
    inc edx
    dec ecx
    jnz top
    EXIT 0
