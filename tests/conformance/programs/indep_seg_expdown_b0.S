# title: expand-down data segment with B = 0 (limit 0xFFF): offsets 0x1000..0xFFFF are valid (a byte at 0x1000 and at 0xFFFF, a word at 0xFFFE); a byte at 0xFFF, a word at 0xFFFF (straddles the 0xFFFF upper bound), a byte at 0x10000 and a dword at 0xFFE (straddles the lower bound) are #GP(0)
# sdm: vol. 3A 3.4.5 "Segment Descriptors" (D/B flag: "Expand-down data segment ... the B flag ... specifies the upper bound of the segment. If the flag is set, the upper bound is FFFFFFFFH (4 GBytes); if the flag is clear, the upper bound is FFFFH (64 KBytes)"); 5.3 "Limit Checking" (expand-down: "the effective limit specifies the last address that is not allowed to be accessed within the segment; the range of valid offsets is from (effective-limit + 1) to FFFFH if the B flag is clear"); 6.15 "Interrupt 13" (#GP(0) for a limit violation through ES)
# expect:
# | in the segment: ok
# | byte at 0xfff: exception 13, error 0x00000000, eip +0
# | word at 0xffff: exception 13, error 0x00000000, eip +0
# | byte at 0x10000: exception 13, error 0x00000000, eip +0
# | dword at 0xffe: exception 13, error 0x00000000, eip +0
# | done
.include "conf.inc"
.set SEG, GDT_SPARE
main:
    mov edi, offset gdt + SEG           # expand-down data, base 0x200000, limit 0xFFF, B = 0, G = 0
    mov eax, 0x200000
    mov ebx, 0xFFF
    mov cx, 0x097
    call mkdesc
    mov ax, SEG
    mov es, ax
    mov byte ptr es:[0x1000], 1
    mov byte ptr es:[0xFFFF], 2
    mov word ptr es:[0xFFFE], 3
    mov ax, KERNEL_DS
    mov es, ax
    PRINT "in the segment: ok\n"
    PRINT "byte at 0xfff: "
    MARK 1f
    RESUME 2f
    mov ax, SEG
    mov es, ax
1:  mov byte ptr es:[0xFFF], 1
2:  mov ax, KERNEL_DS
    mov es, ax
    PRINT "word at 0xffff: "
    MARK 3f
    RESUME 4f
    mov ax, SEG
    mov es, ax
3:  mov ax, es:[0xFFFF]
4:  mov ax, KERNEL_DS
    mov es, ax
    PRINT "byte at 0x10000: "
    MARK 5f
    RESUME 6f
    mov ax, SEG
    mov es, ax
5:  mov al, es:[0x10000]
6:  mov ax, KERNEL_DS
    mov es, ax
    PRINT "dword at 0xffe: "
    MARK 7f
    RESUME 8f
    mov ax, SEG
    mov es, ax
7:  mov eax, es:[0xFFE]
8:  mov ax, KERNEL_DS
    mov es, ax
    PRINT "done\n"
    EXIT 0
