# An exit-heavy workload: the kernel reloads CR3 and writes a port ITERATIONS times
# (as page-table and device code does). The port write reaches the monitor under every strategy
# but native (a trap, a callout, an I/O exit). The CR3 reload traps under trap-and-emulate, is a
# callout (its read inline) under binary translation and exits under VT-x without EPT; with EPT
# the guest owns CR3 and reloads it without any exit.
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
