# title: far RET from ring 3 to a ring-0 code selector: #GP(selector) (RET cannot raise privilege)
# sdm: vol. 2A RET ("IF return code segment selector RPL < CPL THEN #GP(selector)")
# expect:
# | exception 13, error 0x00000008, eip +0, ring 3
# | done
.include "conf.inc"
main:
    MARK 1f
    RESUME 2f
    TO_RING3 user
user:
    push KERNEL_CS
    push offset main
1:  lret
2:  UPRINT "done\n"
    mov eax, 3
    int 0x80
