# title: INT n through 16-bit interrupt gates (type 6): at CPL 0, FLAGS, CS, IP are pushed as words (ESP - 6); from ring 3 through a DPL-3 one, the stack switches to TSS.SS0:ESP0 and SS, SP, FLAGS, CS, IP are pushed as words (ESP0 - 10); the handler starts at the gate's 16-bit offset (0 here, in a code segment based at the handler), IP being the low 16 bits of the return EIP
# sdm: vol. 3A 6.11 (figure 6-2: 16-bit gates, D = 0), 6.12.1 (figure 6-4; a 16-bit gate pushes 16-bit values); vol. 2A INT n (INTRA- and INTER-PRIVILEGE-LEVEL-INTERRUPT, the 16-bit-gate branches: SS, SP, FLAGS, CS, IP pushed as words; the new EIP is the gate's 16-bit offset)
# paravirt: n/a 16-bit IDT gates: a PV kernel has no IDT (a trap-table entry is always 32-bit)
# diverges: trap_emulate the kernel's IRETD to ring 3 runs at ring 1 without a trap, where (CPL 1 > IOPL 0) it leaves IF as it is, set: ring 3 runs with IF = 1 and its frames show it (the IRET form of the POPF hole, Robin & Irvine 2000)
# expect:
# | ring 0: esp drop = 6
# | ring 0: handler eip = 0x00000000
# | ring 0: frame ip = return eip & 0xffff: 0x00000001
# | ring 0: frame cs = 0x00000008
# | ring 0: frame flags = 0x000008d7
# | ring 3: handler esp = esp0 - 10: 0x00000001
# | ring 3: frame ip = return eip & 0xffff: 0x00000001
# | ring 3: frame cs = 0x0000002b
# | ring 3: frame flags = 0x000008d7
# | ring 3: frame sp = ustack_top & 0xffff: 0x00000001
# | ring 3: frame ss = 0x00000033
.include "conf.inc"
main:
    mov edi, offset gdt + GDT_SPARE     # 0x40: 32-bit ring-0 code based at handler16
    mov eax, offset handler16
    mov ebx, 0xFFFFF
    mov cx, 0xC9A
    call mkdesc
    mov edi, offset idt + 0x41 * 8      # 16-bit interrupt gate, DPL 0, GDT_SPARE:0
    xor eax, eax
    mov bx, GDT_SPARE
    mov cx, 0x0086
    call mkgate
    mov edi, offset idt + 0x42 * 8      # the same with DPL 3
    mov cx, 0x00E6
    call mkgate
    mov dword ptr [tss + TSS_ESP0], offset stack_top
    mov [sp_before], esp
    push 0x8D7                          # OF SF ZF AF PF CF
    popfd
    int 0x41
ret0:
    jmp .                               # (the handler jumps to back0)
back0:
    push 0x2
    popfd
    mov eax, [sp_before]
    sub eax, [h_esp]
    SHOWD "ring 0: esp drop = ", eax
    mov eax, [h_eip]                    # EIP at h16_call - (h16_call - handler16)
    sub eax, offset h16_call
    add eax, offset handler16
    SHOW "ring 0: handler eip = ", eax
    mov eax, offset ret0
    and eax, 0xFFFF
    xor edx, edx
    cmp eax, [f_ip]
    sete dl
    SHOW "ring 0: frame ip = return eip & 0xffff: ", edx
    SHOW "ring 0: frame cs = ", [f_cs]
    SHOW "ring 0: frame flags = ", [f_fl]
    mov dword ptr [cont], offset back3
    TO_RING3 user, 0x8D7
user:
    int 0x42
ret3:
    jmp .
back3:
    mov ax, KERNEL_DS
    mov ds, ax
    mov es, ax
    mov esp, offset kstack_top
    xor edx, edx
    cmp dword ptr [h_esp], offset stack_top - 10
    sete dl
    SHOW "ring 3: handler esp = esp0 - 10: ", edx
    mov eax, offset ret3
    and eax, 0xFFFF
    xor edx, edx
    cmp eax, [f_ip]
    sete dl
    SHOW "ring 3: frame ip = return eip & 0xffff: ", edx
    SHOW "ring 3: frame cs = ", [f_cs]
    SHOW "ring 3: frame flags = ", [f_fl]
    mov eax, offset ustack_top
    and eax, 0xFFFF
    xor edx, edx
    cmp eax, [f_sp]
    sete dl
    SHOW "ring 3: frame sp = ustack_top & 0xffff: ", edx
    SHOW "ring 3: frame ss = ", [f_ss]
    EXIT 0
handler16:                              # offset 0 of GDT_SPARE; DS is flat (ring 0 or 3 data)
    mov [h_esp], esp
    movzx eax, word ptr [esp]
    mov [f_ip], eax
    movzx eax, word ptr [esp + 2]
    mov [f_cs], eax
    movzx eax, word ptr [esp + 4]
    mov [f_fl], eax
    movzx eax, word ptr [esp + 6]
    mov [f_sp], eax
    movzx eax, word ptr [esp + 8]
    mov [f_ss], eax
    call h16_call                       # pushes the offset of h16_call in GDT_SPARE
h16_call:
    pop dword ptr [h_eip]               # (main makes it the handler's first EIP)
    add esp, 6
    jmp fword ptr [cont]                # far, to KERNEL_CS:[cont]
.section .data
sp_before: .long 0
h_esp:  .long 0
h_eip:  .long 0
f_ip:   .long 0
f_cs:   .long 0
f_fl:   .long 0
f_sp:   .long 0
f_ss:   .long 0
cont:   .long back0
        .word KERNEL_CS
        .space 512
stack_top:
