# title: IRETW pops IP, CS, FLAGS as words (6 bytes); here into a code segment whose base is the image origin
# sdm: vol. 2A IRET/IRETD (operand size 16: EIP <- Pop() AND 0xFFFF, CS <- Pop(), tempEFLAGS <- Pop())
# diverges: trap_emulate MOV from CS at ring 1 shows the real RPL 1 (a virtualization hole)
# paravirt: n/a prints the CS that IRETW loads, whose RPL is the kernel's ring: 0 on hardware, 1 for a PV kernel
# expect:
# | iretw: esp delta = 0x00000006
# | cs = 0x00000040
# | CF = 0x00000001
.include "conf.inc"
main:
    mov edi, offset gdt + GDT_SPARE     # 0x40: ring-0 code, base = 0x100000 (image origin)
    mov eax, 0x100000
    mov ebx, 0xFFFFF
    mov cx, 0xC9A
    call mkdesc
    mov ebx, esp
    pushw 0x0003                        # FLAGS: CF=1
    pushw GDT_SPARE
    pushw based - _start               # (the image starts at _start = 0x100000)
    iretw
based:
    setc dl
    mov ecx, esp                        # ESP - (ESP before the 6 bytes were pushed) + 6
    sub ecx, ebx
    add ecx, 6
    xor esi, esi
    mov si, cs
    ljmp KERNEL_CS, offset 1f
1:  SHOW "iretw: esp delta = ", ecx
    SHOW "cs = ", esi
    movzx eax, dl
    SHOW "CF = ", eax
    EXIT 0
