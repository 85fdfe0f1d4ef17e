# title: NT and INT n at CPL 0: with NT=1 set by POPFD, INT n pushes EFLAGS with NT=1 and the handler runs with NT=0 (interrupt and trap gate alike), so its IRETD is an ordinary return that restores NT=1; an IRETD executed with NT=1 is a task return through the TSS's previous-task link, here 0: #TS(0) at the IRETD (flags are read as a nested INT 0x43 pushes them, not with PUSHFD)
# sdm: vol. 3A 6.12.1.3 ("the processor also clears the VM, RF, and NT flags in the EFLAGS register, after they are saved on the stack"), 7.4 (NT and IRET), 7.2.1 (previous task link); vol. 2A INT n ("NT <- 0"), IRET (PROTECTED-MODE: "IF NT = 1 THEN GOTO TASK-RETURN"; TASK-RETURN: the link must name a busy TSS, else #TS(link selector))
# paravirt: n/a NT, IRET's task return and the TSS's previous-task link: a PV kernel has no TSS and returns with the iret hypercall
# expect:
# | interrupt gate: pushed eflags = 0x00004002
# | interrupt gate: handler eflags = 0x00000002
# | interrupt gate: eflags after iretd = 0x00004002
# | trap gate: pushed eflags = 0x00004003
# | trap gate: handler eflags = 0x00000003
# | trap gate: eflags after iretd = 0x00004003
# | exception 10, error 0x00000000, eip +0
# | eflags after the #TS = 0x00004002
.include "conf.inc"
# FLAGS_TO var: the current EFLAGS, as INT 0x43 (the recorder) pushes them, into var (flags kept;
# with NT = 1 too: the recorder runs with NT = 0 and returns normally)
.macro FLAGS_TO var
    int 0x43
    push dword ptr [rec_flags]
    pop dword ptr [\var]
.endm
.macro CASE name, vector, flags
    push \flags
    popfd
    int \vector
    FLAGS_TO after
    push 0x2
    popfd                               # NT = 0 before anything else returns with IRET
    SHOW "\name: pushed eflags = ", [f_eflags]
    SHOW "\name: handler eflags = ", [h_eflags]
    SHOW "\name: eflags after iretd = ", [after]
.endm
main:
    SET_GATE idt, 0x41, handler, 0x8E   # 32-bit interrupt gate, DPL 0
    SET_GATE idt, 0x42, handler, 0x8F   # 32-bit trap gate, DPL 0
    SET_GATE idt, 0x43, recorder, 0x8E
    CASE "interrupt gate", 0x41, 0x4002
    CASE "trap gate", 0x42, 0x4003
    push 0x4002                         # NT = 1 in the current EFLAGS: IRETD is a task return
    popfd
    MARK 1f
    RESUME 2f
    push 0x2                            # (a same-ring frame, never used)
    push KERNEL_CS
    push offset 2f
1:  iretd                               # link field of the TSS = 0: not a busy TSS
2:  FLAGS_TO after                      # the reporter's IRETD brought back the saved NT = 1
    push 0x2
    popfd
    SHOW "eflags after the #TS = ", [after]
    EXIT 0
handler:
    push dword ptr [esp + 8]
    pop dword ptr [f_eflags]
    FLAGS_TO h_eflags
    iretd
recorder:
    push dword ptr [esp + 8]
    pop dword ptr [rec_flags]
    iretd
.section .data
h_eflags:  .long 0
f_eflags:  .long 0
after:     .long 0
rec_flags: .long 0
