# title: a ring-3 stack segment of limit 0x80FFF: PUSH at ESP 0x81000, POP and CALL within it work; PUSH at ESP 0x81002, POP at ESP 0x80FFE and CALL at ESP 0x81001 each touch a byte past the limit: #SS(0) from ring 3 (EIP at the instruction), ESP and EAX unchanged
# sdm: vol. 3A 5.3 "Limit Checking" (a word/doubleword past the effective limit; "a stack-fault exception" when the segment is SS); 6.15 "Interrupt 12-Stack Fault Exception (#SS)" ("a limit violation is detected during an operation that refers to the SS register": error code 0; a fault, the saved CS:EIP point to the faulting instruction); vol. 2B PUSH/POP and vol. 2A CALL (protected-mode exceptions: #SS(0) when the stack access - the pushed value, the popped value, the return address - is outside the SS segment limit). The #SS handler runs on the ring-0 stack from the TSS (6.12.1)
# paravirt: n/a kept to the native build (a ring-3 stack segment built with mkdesc and entered by IRET, its #SS through the IDT and the TSS's ring-0 stack)
# expect:
# | in the limit: ok
# | exception 12, error 0x00000000, eip +0, ring 3
# | push: esp = 0x00081002
# | exception 12, error 0x00000000, eip +0, ring 3
# | pop: esp = 0x00080ffe
# | pop: eax = 0x11111111
# | exception 12, error 0x00000000, eip +0, ring 3
# | call: esp = 0x00081001
# | done
.include "conf.inc"
.set STK, GDT_SPARE
main:
    mov edi, offset gdt + STK           # ring-3 data (stack), base 0, limit 0x80FFF (bytes), B = 1
    xor eax, eax
    mov ebx, 0x80FFF
    mov cx, 0x4F3
    call mkdesc
    mov ax, USER_DS
    mov ds, ax
    mov es, ax
    push STK | 3
    push 0x81000
    push 0x2
    push USER_CS
    push offset r3
    iretd
r3:
    mov eax, 0x11111111
    push eax                            # 0x80FFC .. 0x80FFF
    pop eax
    call sub                            # the return address at 0x80FFC .. 0x80FFF
    UPRINT "in the limit: ok\n"
    MARK 1f
    RESUME 2f
    mov esp, 0x81002
1:  push eax                            # 0x80FFE .. 0x81001
2:  mov ecx, esp
    mov esp, 0x81000
    USHOW "push: esp = ", ecx
    MARK 3f
    RESUME 4f
    mov esp, 0x80FFE
3:  pop eax                             # 0x80FFE .. 0x81001
4:  mov ecx, esp
    mov esp, 0x81000
    USHOW "pop: esp = ", ecx
    mov ecx, eax
    USHOW "pop: eax = ", ecx
    MARK 5f
    RESUME 6f
    mov esp, 0x81001
5:  call sub                            # the return address at 0x80FFD .. 0x81000
6:  mov ecx, esp
    mov esp, 0x81000
    USHOW "call: esp = ", ecx
    UPRINT "done\n"
    mov eax, 3
    int 0x80
sub:
    ret
