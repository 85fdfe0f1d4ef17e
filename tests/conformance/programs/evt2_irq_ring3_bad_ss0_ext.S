# title: the timer's IRQ 0 arriving in ring 3 when the ring-0 stack in the TSS is unusable: a null SS0 gives #TS(1), a not-present SS0 (0x40) #SS(0x41): the EXT bit is set (an external event); the fault's frame holds the interrupted ring-3 CS:EIP (the spin loop), SS:ESP and EFLAGS with IF=1 and RF=1 (#TS and #SS are faults) (faults taken by ring-1 handlers on TSS.SS1:ESP1)
# sdm: vol. 3B 18.3.1.1 (RF = 1 pushed for a fault-class exception); vol. 3A 6.13 ("EXT External event (bit 0) - When set, indicates that the exception occurred during delivery of an event external to the program, such as an interrupt or an earlier exception"), 6.12.1; vol. 2A INT n (INTER-PRIVILEGE-LEVEL-INTERRUPT: "IF NewSS is NULL THEN #TS(EXT)"; "IF NewSS is not present THEN #SS(error_code(NewSS,0,EXT))"; EXT is 1 for an external interrupt)
# paravirt: n/a an external interrupt with the TSS's SS0 unusable: a PV kernel has no TSS, no PIC and no ring 0
# expect:
# | null ss0: vector 0x0000000a
# | null ss0: error 0x00000001
# | null ss0: frame is the spin loop in ring 3, esp kept: 0x00000001
# | null ss0: frame eflags = 0x00010202
# | not present ss0: vector 0x0000000c
# | not present ss0: error 0x00000041
# | not present ss0: frame is the spin loop in ring 3, esp kept: 0x00000001
# | not present ss0: frame eflags = 0x00010202
.include "conf.inc"
main:
    mov edi, offset gdt + GDT_SPARE     # 0x40: DPL-0 writable data, P=0
    xor eax, eax
    mov ebx, 0xFFFFF
    mov cx, 0xC12
    call mkdesc
    SET_GATE idt, TIMER_VECTOR, irq0, 0x8E
.irp v, 10, 12, 13
    SET_GATE idt, \v, r1_\v, 0x8E
    mov word ptr [idt + \v * 8 + 2], RING1_CS & ~3  # the handlers run in ring 1
.endr
    mov dword ptr [cname], offset name1
    mov dword ptr [next], offset case2
    mov dword ptr [tss + TSS_SS0], 0
    jmp go
case2:
    mov ax, KERNEL_DS
    mov ds, ax
    mov es, ax
    mov al, 0x20                        # EOI the IRQ 0 in service
    out PIC_CMD, al
    mov dword ptr [cname], offset name2
    mov dword ptr [next], offset finish
    mov dword ptr [tss + TSS_SS0], GDT_SPARE
go: mov al, 0xFE                        # unmask IRQ 0 (the timer)
    out PIC_DATA, al
    TO_RING3 spin, 0x202                # IF = 1, IOPL 0
spin:
    jmp spin
finish:
    mov al, 0xFF
    out PIC_DATA, al
    mov al, 0x20
    out PIC_CMD, al
    EXIT 0
irq0:
    mov ax, KERNEL_DS
    mov ds, ax
    PRINT "irq 0 delivered\n"
    EXIT 1
.irp v, 10, 12, 13
r1_\v:
    push \v
    jmp r1_common
.endr
r1_common:                              # ring 1: vector, error, EIP, CS, EFLAGS, ESP, SS
    mov dword ptr [tss + TSS_SS0], KERNEL_DS    # a usable ring-0 stack again (for int 0x80)
    mov eax, [esp]
    mov [f_vec], eax
    mov eax, [esp + 4]
    mov [f_err], eax
    xor edx, edx
    cmp dword ptr [esp + 8], offset spin
    jne 1f
    cmp word ptr [esp + 12], USER_CS
    jne 1f
    cmp dword ptr [esp + 20], offset ustack_top
    jne 1f
    cmp word ptr [esp + 24], USER_DS
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
    USHOW ": frame is the spin loop in ring 3, esp kept: ", [f_ok]
    mov esi, ecx
    mov eax, 1
    int 0x80
    USHOW ": frame eflags = ", [f_fl]
    mov ebx, [next]
    mov eax, 4                          # continue at [next] in ring 0
    int 0x80
.section .rodata
name1:  .asciz "null ss0"
name2:  .asciz "not present ss0"
.section .data
cname:  .long 0
next:   .long 0
f_vec:  .long 0
f_err:  .long 0
f_ok:   .long 0
f_fl:   .long 0
