# title: an access past a byte-granular data segment's limit: #GP(0); a 4-byte access straddling the limit: #GP(0); the last byte inside: no fault
# sdm: vol. 3A 5.3 "Limit Checking" (offset + size - 1 > limit: #GP(0), #SS(0) for SS)
# expect:
# | last byte: no fault
# | exception 13, error 0x00000000, eip +0
# | exception 13, error 0x00000000, eip +0
# | done
.include "conf.inc"
main:
    mov edi, offset gdt + GDT_SPARE     # 0x40: data, base 0x200000, limit 0xFFF, byte granular
    mov eax, 0x200000
    mov ebx, 0xFFF
    mov cx, 0x493
    call mkdesc
    mov ax, GDT_SPARE
    mov es, ax
    mov byte ptr es:[0xFFF], 1
    PRINT "last byte: no fault\n"
    MARK 1f
    RESUME 2f
1:  mov byte ptr es:[0x1000], 1
2:  MARK 3f
    RESUME 4f
3:  mov dword ptr es:[0xFFE], 1
4:  PRINT "done\n"
    EXIT 0
