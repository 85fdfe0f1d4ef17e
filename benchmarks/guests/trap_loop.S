# One privileged instruction per iteration (CLI, or MOV from CR0 with -defsym CR=1):
# deprivileged, each one traps into the monitor and is emulated.
.include "vlab.inc"
.ifndef ITERATIONS
.set ITERATIONS, 100000
.endif
.section .text
.globl _start
_start:
    mov ecx, ITERATIONS
loop_top:
.ifdef CR
    mov eax, cr0
.else
    cli
.endif
    dec ecx
    jnz loop_top
loop_end:
    EXIT 0
