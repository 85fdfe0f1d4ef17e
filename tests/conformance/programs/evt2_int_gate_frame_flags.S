# title: INT n at CPL 0 through a 32-bit interrupt gate and a trap gate: 12 bytes pushed on the same stack (EIP after the INT, CS, EFLAGS with the flags set before: IOPL 3, OF DF IF SF ZF AF PF CF); the handler runs with IF cleared by the interrupt gate, kept by the trap gate, every other flag as pushed; IRETD restores the image (the flags are set with an IRETD; the handler's flags and those after IRETD are read as a nested INT 0x43 pushes them, not with PUSHFD)
# sdm: vol. 3A 6.12.1 (figure 6-4, "Stack Usage with No Privilege-Level Change"), 6.12.1.3 "Flag Usage By Exception- or Interrupt-Handler Procedure" (TF, VM, RF, NT cleared; IF cleared by an interrupt gate only); vol. 2A INT n (INTRA-PRIVILEGE-LEVEL-INTERRUPT), IRET
# paravirt: n/a the flags an IDT interrupt gate versus a trap gate leave in a ring-0 handler: a PV kernel has no IDT and its IF is the hypervisor's event mask
# expect:
# | interrupt gate: pushed eip is the return address: 0x00000001
# | interrupt gate: pushed cs = 0x00000008
# | interrupt gate: pushed eflags = 0x00003ed7
# | interrupt gate: esp before - handler esp = 12
# | interrupt gate: handler eflags = 0x00003cd7
# | interrupt gate: eflags after iretd = 0x00003ed7
# | trap gate: pushed eip is the return address: 0x00000001
# | trap gate: pushed cs = 0x00000008
# | trap gate: pushed eflags = 0x00003ed7
# | trap gate: esp before - handler esp = 12
# | trap gate: handler eflags = 0x00003ed7
# | trap gate: eflags after iretd = 0x00003ed7
.include "conf.inc"
# FLAGS_TO var: the current EFLAGS, as INT 0x43 (the recorder) pushes them, into var (flags kept)
.macro FLAGS_TO var
    int 0x43
    push dword ptr [rec_flags]
    pop dword ptr [\var]
.endm
.macro CASE name, vector, back
    push 0x3ED7                         # IOPL 3, OF, DF, IF, SF, ZF, AF, PF, CF (and bit 1),
    push KERNEL_CS                      # loaded by an IRETD (at CPL 0 it loads IF and IOPL)
    push offset 9f
    iretd
9:
    mov [sp_before], esp                # MOVs, PUSH/POP to memory: no flag changes
    int \vector
\back:
    FLAGS_TO after
    push 0x2
    popfd                               # DF = 0 again before printing
    xor edx, edx
    cmp dword ptr [f_eip], offset \back
    sete dl
    SHOW "\name: pushed eip is the return address: ", edx
    mov eax, [f_cs]
    and eax, 0xFFFF
    SHOW "\name: pushed cs = ", eax
    SHOW "\name: pushed eflags = ", [f_eflags]
    mov edx, [sp_before]
    sub edx, [h_esp]
    SHOWD "\name: esp before - handler esp = ", edx
    SHOW "\name: handler eflags = ", [h_eflags]
    SHOW "\name: eflags after iretd = ", [after]
.endm
main:
    mov al, 0xFF                        # every IRQ masked at the PIC: IF = 1 must wake nothing
    out PIC_DATA, al
    SET_GATE idt, 0x41, handler, 0x8E   # 32-bit interrupt gate, DPL 0
    SET_GATE idt, 0x42, handler, 0x8F   # 32-bit trap gate, DPL 0
    SET_GATE idt, 0x43, recorder, 0x8E
    CASE "interrupt gate", 0x41, ret_int
    CASE "trap gate", 0x42, ret_trap
    EXIT 0
handler:
    mov [h_esp], esp
    mov eax, [esp]
    mov [f_eip], eax
    mov eax, [esp + 4]
    mov [f_cs], eax
    mov eax, [esp + 8]
    mov [f_eflags], eax
    FLAGS_TO h_eflags
    iretd
recorder:
    push dword ptr [esp + 8]
    pop dword ptr [rec_flags]
    iretd
.section .data
sp_before: .long 0
h_esp:     .long 0
h_eflags:  .long 0
f_eip:     .long 0
f_cs:      .long 0
f_eflags:  .long 0
after:     .long 0
rec_flags: .long 0
