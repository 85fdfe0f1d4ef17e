# title: INTO does nothing with OF=0; with OF=1 it raises #OF (vector 4) as a trap after INTO
# sdm: vol. 2A INTO; vol. 3A, 6.15 "Interrupt 4-Overflow Exception" (trap: EIP after INTO)
# expect:
# | OF=0: no exception
# | exception 4, eip +1
# | done
.include "conf.inc"
main:
    xor eax, eax                        # OF=0
    into
    PRINT "OF=0: no exception\n"
    mov eax, 0x7FFFFFFF
    add eax, 1                          # OF=1
    MARK 1f
    RESUME 2f
1:  into
2:  PRINT "done\n"
    EXIT 0
