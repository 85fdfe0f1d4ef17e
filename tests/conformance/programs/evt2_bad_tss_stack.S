# title: INT n from ring 3 to a ring-0 handler with a bad TSS.SS0:ESP0: #TS(0) for a null SS0, #TS(SS0) for one past the GDT limit, with RPL != 0, of DPL 1, or a code segment; #SS(SS0) for a not-present one and for a stack whose limit leaves no room for the 20-byte frame (below or above); EXT=0 (software interrupt); EIP at the INT, EFLAGS with RF=1 (a fault), nothing pushed on the ring-3 stack (faults taken by ring-1 handlers on TSS.SS1:ESP1); with exactly 20 bytes of room it is delivered (handler ESP = 0)
# sdm: vol. 3B 18.3.1.1 (RF = 1 pushed for a fault-class exception); vol. 2A INT n (INTER-PRIVILEGE-LEVEL-INTERRUPT: "IF NewSS is NULL THEN #TS(EXT)"; "IF NewSS index is not within its descriptor-table limits or NewSS RPL != new code-segment DPL THEN #TS(error_code(NewSS,0,EXT))"; "IF new stack-segment DPL != new code-segment DPL or new stack segment is not a writable data segment THEN #TS(...)"; "IF NewSS is not present THEN #SS(error_code(NewSS,0,EXT))"; "IF new stack does not have room for 20 bytes ... THEN #SS(error_code(NewSS,0,EXT))"); vol. 3A 6.12.1, 6.13, 6.15 "Interrupt 10", "Interrupt 12"
# paravirt: n/a the TSS's SS0:ESP0 and its checks at an inter-privilege interrupt: a PV kernel has no TSS (its stack comes from stack_switch) and no ring 0
# diverges: trap_emulate the kernel's IRETD to ring 3 runs at ring 1 without a trap, where (CPL 1 > IOPL 0) it leaves IF as it is, set: ring 3 runs with IF = 1 and its frames show it (the IRET form of the POPF hole, Robin & Irvine 2000)
# expect:
# | null: vector 0x0000000a
# | null: error 0x00000000
# | null: eip at the int, ring 3, esp kept: 0x00000001
# | null: frame eflags = 0x00010002
# | past the gdt: vector 0x0000000a
# | past the gdt: error 0x00000ff8
# | past the gdt: eip at the int, ring 3, esp kept: 0x00000001
# | past the gdt: frame eflags = 0x00010002
# | rpl 3: vector 0x0000000a
# | rpl 3: error 0x00000010
# | rpl 3: eip at the int, ring 3, esp kept: 0x00000001
# | rpl 3: frame eflags = 0x00010002
# | dpl 1: vector 0x0000000a
# | dpl 1: error 0x00000020
# | dpl 1: eip at the int, ring 3, esp kept: 0x00000001
# | dpl 1: frame eflags = 0x00010002
# | code: vector 0x0000000a
# | code: error 0x00000008
# | code: eip at the int, ring 3, esp kept: 0x00000001
# | code: frame eflags = 0x00010002
# | not present: vector 0x0000000c
# | not present: error 0x00000040
# | not present: eip at the int, ring 3, esp kept: 0x00000001
# | not present: frame eflags = 0x00010002
# | 16 bytes room: vector 0x0000000c
# | 16 bytes room: error 0x00000048
# | 16 bytes room: eip at the int, ring 3, esp kept: 0x00000001
# | 16 bytes room: frame eflags = 0x00010002
# | above the limit: vector 0x0000000c
# | above the limit: error 0x00000048
# | above the limit: eip at the int, ring 3, esp kept: 0x00000001
# | above the limit: frame eflags = 0x00010002
# | 20 bytes room: delivered, esp = 0x00000000
# | 20 bytes room: frame cs = 0x0000002b, ss = 0x00000033
.include "conf.inc"
# CASE name, ss0, esp0: from ring 3, put them in the TSS and INT 0x41 (a DPL-3 gate to ring 0);
# the ring-1 fault handler prints and resumes after the INT
.macro CASE name, ss0, esp0
    mov dword ptr [tss + TSS_SS0], \ss0
    mov dword ptr [tss + TSS_ESP0], \esp0
    mov dword ptr [mark], offset 1f
    mov dword ptr [resume], offset 2f
    mov dword ptr [cname], offset 3f
    .pushsection .rodata
3:  .asciz "\name"
    .popsection
1:  int 0x41
2:
.endm
main:
    mov edi, offset gdt + GDT_SPARE     # 0x40: DPL-0 writable data, P=0
    xor eax, eax
    mov ebx, 0xFFFFF
    mov cx, 0xC12
    call mkdesc
    mov edi, offset gdt + GDT_SPARE + 8 # 0x48: DPL-0 writable data, base small_stack, limit 0x13, B=1
    mov eax, offset small_stack
    mov ebx, 0x13
    mov cx, 0x492
    call mkdesc
    SET_GATE idt, 0x41, h0, 0xEE        # DPL-3 interrupt gate to ring 0
.irp v, 10, 11, 12, 13
    SET_GATE idt, \v, r1_\v, 0x8E
    mov word ptr [idt + \v * 8 + 2], RING1_CS & ~3  # the handlers run in ring 1
.endr
    TO_RING3 user
user:
    CASE "null", 0, "offset kstack_top"
    CASE "past the gdt", 0x0FF8, "offset kstack_top"
    CASE "rpl 3", KERNEL_DS | 3, "offset kstack_top"
    CASE "dpl 1", RING1_DS & ~3, "offset kstack_top"
    CASE "code", KERNEL_CS, "offset kstack_top"
    CASE "not present", GDT_SPARE, "offset kstack_top"
    CASE "16 bytes room", GDT_SPARE + 8, 0x10
    CASE "above the limit", GDT_SPARE + 8, 0x18
    mov dword ptr [tss + TSS_SS0], GDT_SPARE + 8
    mov dword ptr [tss + TSS_ESP0], 0x14
    int 0x41                            # exactly 20 bytes: delivered to h0
    jmp .
.irp v, 10, 11, 12, 13
r1_\v:
    push \v
    jmp r1_common
.endr
r1_common:                              # ring 1: vector, error, EIP, CS, EFLAGS, ESP, SS
    mov dword ptr [tss + TSS_SS0], KERNEL_DS    # a usable ring-0 stack again (for int 0x80)
    mov dword ptr [tss + TSS_ESP0], offset kstack_top
    mov eax, [esp]
    mov [f_vec], eax
    mov eax, [esp + 4]
    mov [f_err], eax
    xor edx, edx                        # EIP at the INT, CS = USER_CS, ring-3 ESP untouched
    mov eax, [esp + 8]
    cmp eax, [mark]
    jne 1f
    cmp word ptr [esp + 12], USER_CS
    jne 1f
    cmp dword ptr [esp + 20], offset ustack_top
    jne 1f
    inc edx
1:  mov [f_ok], edx
    mov eax, [esp + 16]
    mov [f_fl], eax
    mov ecx, [cname]
    mov esi, ecx
    mov eax, 1
    int 0x80
    USHOW ": vector ", [f_vec]
    mov esi, ecx
    mov eax, 1
    int 0x80
    USHOW ": error ", [f_err]
    mov esi, ecx
    mov eax, 1
    int 0x80
    USHOW ": eip at the int, ring 3, esp kept: ", [f_ok]
    mov esi, ecx
    mov eax, 1
    int 0x80
    USHOW ": frame eflags = ", [f_fl]
    add esp, 8
    mov eax, [resume]
    mov [esp], eax
    iretd
h0:                                     # ring 0, on 0x48:0 (DS: the flat ring-3 data segment)
    mov [h_esp], esp
    mov ax, KERNEL_DS
    mov ss, ax
    mov esp, offset kstack_top
    mov ds, ax
    mov es, ax
    SHOW "20 bytes room: delivered, esp = ", [h_esp]
    PRINT "20 bytes room: frame cs = "
    movzx eax, word ptr [small_stack + 4]
    call puthex
    PRINT ", ss = "
    movzx eax, word ptr [small_stack + 16]
    call puthex
    call newline
    EXIT 0
.section .data
cname:  .long 0
f_vec:  .long 0
f_err:  .long 0
f_ok:   .long 0
f_fl:   .long 0
h_esp:  .long 0
.align 16
small_stack: .space 32
