# title: LGDT, SGDT and SIDT through DS with a non-zero base: the memory operand is DS.base + offset
# sdm: vol. 3A 3.4.3? (logical to linear: base + offset), 3.4.5; vol. 2A LGDT/LIDT, SGDT, SIDT (m16&32 operand in a data segment)
# diverges: trap_emulate SGDT at ring 1 does not trap: it stores the real GDTR, the monitor's (a virtualization hole)
# paravirt: n/a LGDT, SGDT and SIDT: GDTR and IDTR are the hypervisor's
# expect:
# | sgdt limit through base = 0x0000007f
# | sgdt base is gdt = 0x00000001
# | sidt limit through base = 0x000007ff
.include "conf.inc"
main:
    mov edi, offset gdt + GDT_SPARE     # 0x40: data, base 0x200000
    mov eax, 0x200000
    mov ebx, 0xFFFFF
    mov cx, 0xC93
    call mkdesc
    mov ax, [gdt_desc]                  # a copy of the GDT pseudo-descriptor at linear 0x200010
    mov [0x200010], ax
    mov eax, [gdt_desc + 2]
    mov [0x200012], eax
    mov ax, GDT_SPARE
    mov ds, ax
    lgdt [0x10]                         # linear 0x200010
    sgdt [0x20]                         # linear 0x200020
    sidt [0x30]                         # linear 0x200030
    mov ax, KERNEL_DS
    mov ds, ax
    movzx eax, word ptr [0x200020]
    SHOW "sgdt limit through base = ", eax
    xor eax, eax
    cmp dword ptr [0x200022], offset gdt
    sete al
    SHOW "sgdt base is gdt = ", eax
    movzx eax, word ptr [0x200030]
    SHOW "sidt limit through base = ", eax
    EXIT 0
