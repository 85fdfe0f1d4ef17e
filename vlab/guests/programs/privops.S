# An exit-heavy workload: the kernel reloads CR3 and writes a port ITERATIONS times
# (as page-table and device code does). Every one reaches a monitor, in any strategy.
.include "vlab.inc"
.ifndef ITERATIONS
.set ITERATIONS, 2000
.endif
.section .text
.globl _start
_start:
    mov ecx, ITERATIONS
1:  mov eax, cr3                        # the TLB-flush idiom
    mov cr3, eax
    out 0x80, al                        # a write to a (diagnostic) port
    loop 1b
    PRINT "privileged operations: done\n"
    EXIT 0
.include "lib.inc"
