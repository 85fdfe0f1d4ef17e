# title: the interrupt flag at ring 1: with IOPL 1, STI/CLI work and POPFD changes IF (IOPL kept: CPL > 0); with IOPL 0, CLI and STI are #GP(0) and POPFD silently keeps IF (and IOPL) but changes CF
# sdm: vol. 2A CLI ("IF IOPL >= CPL THEN IF <- 0; ELSE IF ((IOPL < CPL) and (CPL = 3) and (PVI = 1)) ... ELSE #GP(0)"), vol. 2B STI (the same, IF <- 1); vol. 2B POPF (protected mode, "ELSE IF CPL > 0 ... IF CPL > IOPL THEN ... all non-reserved bits except IF, IOPL, VIP, VIF, VM and RF can be modified; IF and IOPL unaffected; ELSE (* CPL <= IOPL *) ... all non-reserved bits except IOPL, VIP, VIF, VM and RF can be modified; IOPL unaffected"; no exception); vol. 1 3.4.3.3 (IOPL); CR4.PVI = 0
# diverges: trap_emulate PUSHFD does not trap (a Robin & Irvine hole): at ring 1 it shows the real IF and IOPL, not the ones the guest set
# paravirt: n/a ring-1 code apart from the kernel, given IOPL by the kernel, and the real IF: a PV kernel is itself ring 1 and its IF is the hypervisor's event mask
# expect:
# | IOPL 1, sti: flags & 0x3201 = 0x00001200
# | IOPL 1, cli: flags & 0x3201 = 0x00001000
# | IOPL 1, popfd 0x3203: flags & 0x3201 = 0x00001201
# | exception 13, error 0x00000000, eip +0, ring 1
# | exception 13, error 0x00000000, eip +0, ring 1
# | IOPL 0, after cli/sti: flags & 0x3201 = 0x00000000
# | IOPL 0, popfd 0x3203: flags & 0x3201 = 0x00000001
.include "conf.inc"
.macro FLAGS text
    pushfd
    pop ecx
    and ecx, 0x3201
    USHOW "\text: flags & 0x3201 = ", ecx
.endm
main:
    mov al, 0xFF                        # every IRQ masked at the PIC: IF = 1 must wake nothing
    out PIC_DATA, al
    TO_RING1 r1a, 0x1002                # IOPL 1, IF 0
r1a:
    sti
    FLAGS "IOPL 1, sti"
    cli
    FLAGS "IOPL 1, cli"
    push 0x3203                         # IOPL 3, IF 1, CF 1
    popfd
    FLAGS "IOPL 1, popfd 0x3203"
    push 0x1002
    popfd
    UBACK k
k:  MARK 1f
    RESUME 2f
    TO_RING1 r1b, 0x0002                # IOPL 0, IF 0
r1b:
1:  cli
2:  MARK 3f
    RESUME 4f
3:  sti
4:  FLAGS "IOPL 0, after cli/sti"
    push 0x3203
    popfd
    FLAGS "IOPL 0, popfd 0x3203"
    mov eax, 3
    int 0x80
