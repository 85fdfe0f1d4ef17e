# 10,000 consecutive #GP faults from ring 3, each handled by the guest's own #GP handler.
# Unicorn keeps stale fault state after a handled #GP (DESIGN.md): without vlab's reset the second
# fault would arrive as #DF and the third as a triple fault. The handler counts faults by vector.
.include "vlab.inc"
.set FAULTS, 10000
.section .text
.globl _start
_start:
    mov esp, 0x90000
    SET_GATE idt, 13, gp_handler, 0x8E
    SET_GATE idt, 8, df_handler, 0x8E
    lidt [idt_desc]
    mov ax, USER_DS                     # (kept by the IRET to ring 3, so that the handler's
    mov ds, ax                          # accesses go through a usable DS: SDM vol. 2A IRET)
    mov es, ax
    push USER_DS
    push 0x80000
    push 0x2
    push USER_CS
    push offset user
    iretd
user:
    cli                                 # #GP at ring 3, every time
    jmp user

gp_handler:
    inc dword ptr [gp_count]
    cmp dword ptr [gp_count], FAULTS
    jae done
    inc dword ptr [esp + 4]             # skip the cli
    add esp, 4                          # error code
    iretd
df_handler:
    inc dword ptr [df_count]
done:
    PRINT "gp="
    mov eax, [gp_count]
    call putdec
    PRINT " df="
    mov eax, [df_count]
    call putdec
    call newline
    EXIT 0
.include "lib.inc"
.section .data
.align 4
    .word 0
idt_desc: .word 14 * 8 - 1
          .long idt
gp_count: .long 0
df_count: .long 0
.align 8
idt:      .space 14 * 8
