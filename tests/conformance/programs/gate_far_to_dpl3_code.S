# title: far JMP and far CALL from ring 0 straight to the DPL-3 non-conforming code segment: #GP(selector)
# sdm: vol. 2A JMP, CALL (non-conforming: "IF RPL > CPL OR DPL != CPL THEN #GP(segment selector)"); vol. 3A 5.8.1
# expect:
# | exception 13, error 0x00000028, eip +0
# | exception 13, error 0x00000028, eip +0
# | done
.include "conf.inc"
main:
    MARK 1f
    RESUME 2f
1:  ljmp USER_CS, offset 2f
2:  MARK 3f
    RESUME 4f
3:  lcall USER_CS, offset 4f
4:  PRINT "done\n"
    EXIT 0
