# cr_shadow.S - exercise 11 (hidden): MOV to CR0 and CR4 through the guest/host masks.
#
# The hypervisor owns CR0.NE and CR4.VMXE (VMX forces them to 1): they are in the guest/host
# masks, the guest reads its own values from the read shadows, and a MOV to CR0 or CR4 that
# would change one exits (SDM vol. 3C 25.1.3, 25.3). The handler must take the value from the
# register the qualification names (bits 11:8), put it in the read shadow, and in GUEST_CR0 or
# GUEST_CR4 with the forced bits set: a read of CR0 then shows the masked bits from the shadow
# and the others (here TS, which the same MOV sets) from GUEST_CR0, and SMSW too. Natively, and
# under a correct hypervisor, it prints the same.

.include "vlab.inc"

.section .text
.globl _start
_start:
    PRINT "cr: seed "
    mov eax, [seed]
    call puthex
    call newline

    mov eax, cr0
    PRINT "cr0:          "
    call puthex
    call newline
    mov ecx, eax
    or ecx, 0x28                        # NE (masked: it exits) and TS (not masked)
    mov cr0, ecx                        # from ECX
    mov eax, cr0
    PRINT "cr0 +NE +TS:  "
    call puthex
    call newline
    xor eax, eax
    smsw ax
    PRINT "smsw:         "
    call puthex
    call newline
    mov esi, cr0
    and esi, ~0x28
    mov cr0, esi                        # from ESI
    mov eax, cr0
    PRINT "cr0 -NE -TS:  "
    call puthex
    call newline

    mov eax, cr4
    PRINT "cr4:          "
    call puthex
    call newline
    mov edi, eax
    or edi, 0x2010                      # VMXE (masked) and PSE (not masked)
    mov cr4, edi                        # from EDI
    mov eax, cr4
    PRINT "cr4 +VMXE +PSE: "
    call puthex
    call newline
    mov ebx, cr4
    and ebx, ~0x2000
    mov cr4, ebx                        # from EBX
    mov eax, cr4
    PRINT "cr4 -VMXE:    "
    call puthex
    call newline
    EXIT 0

.include "lib.inc"

.section .data
.align 4
seed: .long 0x0BADCAFE                  # (the grader writes a fresh number here)
