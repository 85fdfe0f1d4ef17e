# title: code copied to linear 0x300000 and called there: PUSHF, SGDT, STR, MOV from CS and a far CALL work as anywhere
# sdm: vol. 3A 3.4 (flat segments), vol. 2B PUSHF, SGDT, STR (position does not matter)
# diverges: trap_emulate PUSHF, SGDT, STR and MOV from CS at ring 1 show the real IF, GDTR, TR and CPL
# paravirt: n/a PUSHF's IF, SGDT, STR and CS's RPL at ring 0: IF, GDTR, TR and ring 0 are the hypervisor's
# expect:
# | eflags = 0x00000002
# | sgdt base is gdt = 0x00000001
# | str = 0x00000038
# | cs = 0x00000008
# | far call returned = 0x00000001
.include "conf.inc"
main:
    mov esi, offset far_start
    mov edi, 0x300000
    mov ecx, far_end - far_start
    rep movsb
    push 0x2
    popfd
    mov eax, 0x300000
    call eax
    SHOW "eflags = ", [r_flags]
    xor eax, eax
    cmp dword ptr [r_gdtr + 2], offset gdt
    sete al
    SHOW "sgdt base is gdt = ", eax
    SHOW "str = ", [r_tr]
    SHOW "cs = ", [r_cs]
    SHOW "far call returned = ", [r_far]
    EXIT 0
far_start:                              # position-independent except for absolute data addresses
    pushfd
    pop dword ptr [r_flags]
    sgdt [r_gdtr]
    str word ptr [r_tr]
    mov word ptr [r_cs], cs
    lcall KERNEL_CS, offset far_fn
    ret
far_end:
far_fn:
    mov dword ptr [r_far], 1
    lret
.section .data
.align 4
r_flags: .long 0
r_gdtr:  .space 8
r_tr:    .long 0
r_cs:    .long 0
r_far:   .long 0
