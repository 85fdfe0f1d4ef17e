# title: a store into the immediate of the next instruction: the modified instruction executes (P6 and later detect it)
# sdm: vol. 3A 11.6 "Self-Modifying Code" ("...Pentium 4 and P6 family processors: a write to code already prefetched is detected and the code re-fetched")
# expect:
# | eax = 0x00000005
.include "conf.inc"
main:
    mov dword ptr [1f + 1], 5
1:  mov eax, 0
    SHOW "eax = ", eax
    EXIT 0
