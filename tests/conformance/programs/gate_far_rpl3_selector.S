# title: far JMP from ring 0 with an RPL-3 selector for the ring-0 code segment: #GP(selector without RPL)
# sdm: vol. 2A JMP (non-conforming code segment: "IF RPL > CPL ... THEN #GP(segment selector)"); vol. 3A 5.8.1, 6.13 (error code format)
# expect:
# | exception 13, error 0x00000008, eip +0
# | done
.include "conf.inc"
main:
    MARK 1f
    RESUME 2f
1:  ljmp KERNEL_CS | 3, offset 2f
2:  PRINT "done\n"
    EXIT 0
