# nanobenchmark in: IN from port 0x80 (the BIOS POST port) in the kernel, ITERATIONS times
# Adams & Agesen, ASPLOS 2006, sec. 6, figure 4 ("in"). A software monitor sees the kernel's
# port I/O (a trap, or a translated call into its device model); VT-x exits on it
# (unconditional I/O exiting); natively it goes to the (here: empty) bus and reads all ones.
# paravirt: n/a - a paravirtual kernel has no port I/O here (vlab's hypervisor grants no I/O rights)
.include "nano.inc"
.section .text
.globl _start
_start:
    NANO_BOOT
    mov ecx, ITERATIONS
1:  in al, 0x80                         # the operation measured
    cmp al, 0xFF                        # nothing answers on port 0x80: all ones
    jne 2f
    inc dword ptr [reads]
2:  loop 1b
    NANO_DONE reads
.include "lib.inc"
.section .data
.align 4
reads:  .long 0
    NANO_DATA
