# title: faults with an error code at CPL 0 (#GP from a selector past the GDT limit, #NP and #SS from a not-present data segment loaded into ES and SS): 16 bytes on the same stack, the error code (selector, RPL bits cleared) at ESP, then EIP of the faulting MOV, CS, EFLAGS as they were (OF SF ZF CF) with RF=1 in the image (a fault); the segment register unchanged
# sdm: vol. 3A 6.12.1 (figure 6-4, error code pushed last); vol. 3B 18.3.1.1 ("For any fault-class exception except a debug exception generated in response to an instruction breakpoint, the value pushed for RF is 1"); 6.13 "Error Code" (figure 6-6: selector index, TI, IDT, EXT), 6.15 "Interrupt 10/11/12/13"; vol. 2A MOV (segment loads: "IF segment selector index is not within the descriptor table limits THEN #GP(selector)"; "IF segment not marked present THEN #NP(selector)"; SS: "#SS(selector)")
# paravirt: n/a loading the DPL-0 spare descriptor into SS (a PV kernel's SS must be DPL 1) and IDT gates for #GP/#NP/#SS: a PV kernel has no IDT
# expect:
# | #GP: error 0x00000ff8, eip at the mov 0x00000001, cs 0x00000008, eflags 0x000108c3, esp drop 16, ds & ~3 0x00000010
# | #NP: error 0x00000040, eip at the mov 0x00000001, cs 0x00000008, eflags 0x000108c3, esp drop 16, es & ~3 0x00000010
# | #SS: error 0x00000040, eip at the mov 0x00000001, cs 0x00000008, eflags 0x000108c3, esp drop 16, ss & ~3 0x00000010
.include "conf.inc"
.macro CASE name, sreg, sel, at, back
    mov ax, \sel
    push 0x08C3                         # OF, SF, ZF, CF (and bit 1)
    popfd
    mov [sp_before], esp
\at:
    mov \sreg, ax
\back:
    PRINT "\name: error "
    mov eax, [f_err]
    call puthex
    PRINT ", eip at the mov "
    xor eax, eax
    cmp dword ptr [f_eip], offset \at
    sete al
    call puthex
    PRINT ", cs "
    mov eax, [f_cs]
    and eax, 0xFFFF
    call puthex
    PRINT ", eflags "
    mov eax, [f_eflags]
    call puthex
    PRINT ", esp drop "
    mov eax, [sp_before]
    sub eax, [h_esp]
    call putdec
    PRINT ", \sreg & ~3 "                # (RPL masked: SS's RPL is the CPL, trap_emulate's real one)
    xor eax, eax
    mov ax, \sreg
    and eax, 0xFFFC
    call puthex
    call newline
.endm
main:
    mov edi, offset gdt + GDT_SPARE     # 0x40: DPL-0 writable data, P=0
    xor eax, eax
    mov ebx, 0xFFFFF
    mov cx, 0xC12
    call mkdesc
    SET_GATE idt, 11, handler, 0x8E
    SET_GATE idt, 12, handler, 0x8E
    SET_GATE idt, 13, handler, 0x8E
    CASE "#GP", ds, 0x0FFB, at1, back1
    CASE "#NP", es, GDT_SPARE, at2, back2
    CASE "#SS", ss, GDT_SPARE, at3, back3
    EXIT 0
handler:                                # every register is the program's to clobber
    mov [h_esp], esp
    mov eax, [esp]
    mov [f_err], eax
    mov eax, [esp + 4]
    mov [f_eip], eax
    mov eax, [esp + 8]
    mov [f_cs], eax
    mov eax, [esp + 12]
    mov [f_eflags], eax
    add esp, 4                          # drop the error code
    mov dword ptr [esp + 8], 0x2        # return with EFLAGS = 0x2 (DF = 0 for the printing)
    mov eax, [f_eip]
    add eax, 2                          # mov sreg, ax is 8E /r: 2 bytes
    mov [esp], eax
    iretd
.section .data
sp_before: .long 0
h_esp:     .long 0
f_err:     .long 0
f_eip:     .long 0
f_cs:      .long 0
f_eflags:  .long 0
