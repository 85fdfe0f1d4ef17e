# title: #UD with a usable IDT gate is an ordinary guest fault (UD2, LOCK NOP), saved EIP = the instruction
# sdm: vol. 3A, 6.15 "Interrupt 6-Invalid Opcode Exception" (fault); vol. 2A UD2, LOCK (#UD if not lockable)
# expect:
# | exception 6, eip +0
# | exception 6, eip +0
# | handled twice
.include "conf.inc"
main:
    MARK 1f
    RESUME 2f
1:  ud2
2:  MARK 3f
    RESUME 4f
3:  .byte 0xF0, 0x90                    # LOCK NOP: LOCK on a non-lockable instruction
4:  PRINT "handled twice\n"
    EXIT 0
