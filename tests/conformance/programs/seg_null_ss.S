# title: MOV SS with the null selector at CPL 0: #GP(0), SS unchanged
# sdm: vol. 2A MOV ("IF SS is loaded: IF segment selector is NULL THEN #GP(0)")
# expect:
# | exception 13, error 0x00000000, eip +0
# | ss & 0xfffc = 0x00000010
.include "conf.inc"
main:
    xor eax, eax
    MARK 1f
    RESUME 2f
1:  mov ss, ax
2:  xor eax, eax
    mov ax, ss
    and eax, 0xFFFC                     # (the RPL is ri_mov_seg's subject)
    SHOW "ss & 0xfffc = ", eax
    EXIT 0
