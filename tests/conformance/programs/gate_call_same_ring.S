# title: far CALL through a DPL-0 call gate at CPL 0 to a ring-0 segment: no stack switch, CS:EIP pushed (8 bytes), the gate's offset used (the call's offset ignored)
# sdm: vol. 3A 5.8.3 "Call Gates", 5.8.4 "Accessing a Code Segment Through a Call Gate"; vol. 2A CALL (CALL-GATE, SAME-PRIVILEGE)
# diverges: trap_emulate MOV from CS at ring 1 shows the real RPL 1 (a virtualization hole)
# paravirt: n/a a call gate at ring 0, and the callee's CS of RPL 0: set_gdt takes no call gate, and a PV kernel runs in ring 1
# expect:
# | in callee: cs = 0x00000008
# | in callee: esp delta = 0x00000008
# | returned
.include "conf.inc"
main:
    mov edi, offset gdt + GDT_SPARE
    mov eax, offset callee
    mov bx, KERNEL_CS
    mov cx, 0x008C                      # 32-bit call gate, DPL 0, 0 parameters
    call mkgate
    mov ebp, esp
    lcall GDT_SPARE, 0x12345678
    PRINT "returned\n"
    EXIT 0
callee:
    xor eax, eax
    mov ax, cs
    SHOW "in callee: cs = ", eax
    mov eax, ebp
    sub eax, esp
    SHOW "in callee: esp delta = ", eax
    lret
