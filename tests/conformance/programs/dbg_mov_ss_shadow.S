# title: MOV SS and POP SS inhibit the single-step trap for one instruction: with TF=1 the first #DB follows the instruction after them
# sdm: vol. 3A 6.8.3 ("Masking Exceptions and Interrupts When Switching Stacks"), 18.3.1.4 (single-step, DR6.BS)
# paravirt: n/a DR6 (MOV DR, and its own #DB gate in the IDT): the debug registers are the hypervisor's (Xen's get_debugreg is not in vlab)
# expect:
# | mov ss: #DB at +3, DR6.BS 1
# | pop ss: #DB at +2, DR6.BS 1
# | plain: #DB at +1, DR6.BS 1
.include "conf.inc"
main:
    SET_GATE idt, 1, db_once, 0x8E
    xor eax, eax
    mov dr6, eax
    mov dword ptr [db_eip], 0
    MARK 1f
    mov ax, KERNEL_DS
    pushfd
    or dword ptr [esp], 0x100
    popfd                               # TF=1: the trap comes after the next instruction
1:  mov ss, ax                          # 2 bytes; its trap is inhibited
    nop                                 # trap after this one: EIP = 1b + 3
    nop
    nop
    PRINT "mov ss: "
    call show_db
    xor eax, eax
    mov dr6, eax
    mov dword ptr [db_eip], 0
    MARK 2f
    push KERNEL_DS
    pushfd
    or dword ptr [esp], 0x100
    popfd
2:  pop ss                              # 1 byte; its trap is inhibited
    nop
    nop
    nop
    PRINT "pop ss: "
    call show_db
    xor eax, eax
    mov dr6, eax
    mov dword ptr [db_eip], 0
    MARK 3f
    pushfd
    or dword ptr [esp], 0x100
    popfd
3:  nop
    nop
    nop
    PRINT "plain: "
    call show_db
    EXIT 0
db_once:                                # the first #DB only: record EIP and DR6, clear TF
    push eax
    cmp dword ptr [db_eip], 0
    jne 1f
    mov eax, [esp + 4]
    mov [db_eip], eax
    mov eax, dr6
    mov [db_dr6], eax
1:  and dword ptr [esp + 12], ~0x100
    pop eax
    iretd
show_db:
    PRINT "#DB at +"
    mov eax, [db_eip]
    sub eax, [mark]
    call putdec
    PRINT ", DR6.BS "
    mov eax, [db_dr6]
    shr eax, 14
    and eax, 1
    call putdec
    call newline
    ret
.section .data
db_eip: .long 0
db_dr6: .long 0
