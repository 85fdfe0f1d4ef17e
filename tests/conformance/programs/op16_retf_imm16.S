# title: RETF imm16 releases imm16 bytes of parameters after popping EIP and CS; RETFW 4 pops IP and CS as words and releases 4
# sdm: vol. 2B RET ("RET imm16: ... ESP is incremented by imm16 after the return address is popped"; operand size 16: IP and CS are words)
# diverges: trap_emulate MOV from CS at ring 1 shows the real RPL 1 (a virtualization hole)
# paravirt: n/a prints the CS that RETFW loads, whose RPL is the kernel's ring: 0 on hardware, 1 for a PV kernel
# expect:
# | lret 8: esp restored = 0x00000001
# | lretw 4: esp delta = 0x00000008, cs = 0x00000040
.include "conf.inc"
main:
    mov ebx, esp
    push 0x11111111
    push 0x22222222
    lcall KERNEL_CS, offset callee
    xor eax, eax
    cmp esp, ebx
    sete al
    SHOW "lret 8: esp restored = ", eax
    mov edi, offset gdt + GDT_SPARE     # 0x40: ring-0 code with base 0x100000
    mov eax, 0x100000
    mov ebx, 0xFFFFF
    mov cx, 0xC9A
    call mkdesc
    mov ebx, esp
    pushw 0x3333                        # 4 bytes of "parameters"
    pushw 0x4444
    pushw GDT_SPARE
    pushw based - _start               # (the image starts at _start = 0x100000)
    lretw 4
based:
    mov ecx, ebx
    sub ecx, esp
    neg ecx
    xor eax, eax
    mov ax, cs
    ljmp KERNEL_CS, offset 1f
1:  PRINT "lretw 4: esp delta = "
    add ecx, 8
    mov edx, eax
    mov eax, ecx
    call puthex
    PRINT ", cs = "
    mov eax, edx
    call puthex
    call newline
    EXIT 0
callee:
    lret 8
