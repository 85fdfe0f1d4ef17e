# title: far RET to ring 3 nulls DS and ES holding DPL-0 selectors; the next DS access #GP(0)
# sdm: vol. 2A RET (RETURN-TO-OUTER-PRIVILEGE-LEVEL: segment registers with DPL < new CPL are loaded with null)
# expect:
# | ds = 0x00000000
# | es = 0x00000000
# | exception 13, error 0x00000000, eip +0, ring 3
# | done
.include "conf.inc"
main:
    MARK 1f                             # (ring 3 cannot write these: DS is null there)
    RESUME 2f
    push USER_DS
    push offset ustack_top
    push USER_CS
    push offset user
    lret
user:
    xor ecx, ecx
    mov cx, ds
    USHOW "ds = ", ecx
    mov cx, es
    USHOW "es = ", ecx
1:  mov eax, ds:[0x2000]
2:  UPRINT "done\n"
    mov eax, 3
    int 0x80
