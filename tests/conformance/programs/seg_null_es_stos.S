# title: STOSB through ES holding the null selector: #GP(0); DS is unaffected
# sdm: vol. 3A 3.4.2; vol. 2B STOS (#GP(0) "if the destination is located in a non-writable segment ... or ES contains a NULL segment selector")
# expect:
# | exception 13, error 0x00000000, eip +0
# | done
.include "conf.inc"
main:
    xor eax, eax
    mov es, ax
    mov edi, 0x2000
    MARK 1f
    RESUME 2f
1:  stosb
2:  PRINT "done\n"
    EXIT 0
