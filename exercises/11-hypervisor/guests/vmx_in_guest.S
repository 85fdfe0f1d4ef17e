# vmx_in_guest.S - exercise 11 (hidden): an exit the hypervisor does not handle.
#
# CPUID told the guest there is no VMX, but it tries VMXON anyway: in VMX non-root operation
# every VMX instruction exits unconditionally (SDM vol. 3C 25.1.2), here with basic reason 27.
# A hypervisor that does not handle a reason must say so and stop, by the skeleton's
# convention: `hv: unexpected VM exit, reason 0x0000001b` on the console, exit code 0x44. It
# must not resume the guest (VMXON would exit again, for ever) nor skip the instruction.

.include "vlab.inc"

.section .text
.globl _start
_start:
    PRINT "vmx: seed "
    mov eax, [seed]
    call puthex
    call newline
    PRINT "trying VMXON\n"
    vmxon [region_pointer]
    PRINT "VMXON returned\n"
    EXIT 0

.include "lib.inc"

.section .data
.align 8
region_pointer: .long region, 0
seed: .long 0x0BADCAFE                  # (the grader writes a fresh number here)
.align 4096
region: .fill 1024, 4, 0
