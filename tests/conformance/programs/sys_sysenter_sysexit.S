# title: SYSENTER from ring 3 loads CS=IA32_SYSENTER_CS, SS=CS+8, ESP/EIP from the MSRs; SYSEXIT returns to CS+16|3, SS+24|3, EIP=EDX, ESP=ECX
# sdm: vol. 2B SYSENTER, SYSEXIT (operation); vol. 3A 5.8.7 "Performing Fast Calls to System Procedures with SYSENTER/SYSEXIT"; MSRs 0x174-0x176 (vol. 4)
# diverges: trap_emulate MOV from CS/SS and PUSHF in the kernel show the real RPL 1 and IF (virtualization holes)
# paravirt: n/a SYSENTER/SYSEXIT set up with WRMSR, into ring 0: MSRs and ring 0 are the hypervisor's
# expect:
# | ring 0: cs = 0x00000048
# | ring 0: ss = 0x00000050
# | ring 0: esp is the MSR's = 0x00000001
# | ring 0: IF = 0x00000000
# | ring 3: cs = 0x0000005b
# | ring 3: ss = 0x00000063
# | ring 3: esp is ecx = 0x00000001
.include "conf.inc"
main:
    call flat_set                       # 0x48 code0, 0x50 data0, 0x58 code3, 0x60 data3
    mov ecx, 0x174
    xor edx, edx
    mov eax, 0x48
    wrmsr
    mov ecx, 0x175
    mov eax, offset sysstack_top
    wrmsr
    mov ecx, 0x176
    mov eax, offset entry
    wrmsr
    TO_RING3 user, 0x202 & ~0x200 | 0x2
user:
    sysenter
entry:
    mov eax, KERNEL_DS                  # (SS/CS are the ones SYSENTER made)
    mov ds, ax
    mov es, ax
    xor ebx, ebx
    mov bx, cs
    SHOW "ring 0: cs = ", ebx
    mov bx, ss
    SHOW "ring 0: ss = ", ebx
    xor ebx, ebx
    cmp esp, offset sysstack_top
    sete bl
    SHOW "ring 0: esp is the MSR's = ", ebx
    pushfd
    pop ebx
    shr ebx, 9
    and ebx, 1
    SHOW "ring 0: IF = ", ebx
    mov edx, offset back
    mov ecx, offset ustack_top - 64
    mov ax, 0x63
    mov ds, ax
    mov es, ax
    sysexit
back:
    xor ebx, ebx
    mov bx, cs
    USHOW "ring 3: cs = ", ebx
    mov bx, ss
    USHOW "ring 3: ss = ", ebx
    xor ebx, ebx
    cmp esp, offset ustack_top - 64
    sete bl
    USHOW "ring 3: esp is ecx = ", ebx
    mov eax, 3
    int 0x80
flat_set:                               # four more flat descriptors from GDT_SPARE + 8
    mov edi, offset gdt + 0x48
    xor eax, eax
    mov ebx, 0xFFFFF
    mov ch, 0xC
    mov cl, 0x9A
    call mkdesc
    add edi, 8
    mov cl, 0x92
    call mkdesc
    add edi, 8
    mov cl, 0xFA
    call mkdesc
    add edi, 8
    mov cl, 0xF2
    call mkdesc
    ret
.section .data
    .space 256
sysstack_top:
