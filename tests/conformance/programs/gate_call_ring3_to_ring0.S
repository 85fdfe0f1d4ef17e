# title: far CALL from ring 3 through a DPL-3 call gate to ring 0: stack switch to TSS.SS0:ESP0, SS:ESP, 2 parameters, CS:EIP pushed; RETF 8 returns and releases the parameters on both stacks
# sdm: vol. 3A 5.8.5 "Stack Switching" (figure 5-13), 5.8.6 "Returning from a Called Procedure"; vol. 2A CALL (MORE-PRIVILEGE), RET
# paravirt: n/a a call gate into ring 0 with the TSS's stack: ring 0 and the TSS are the hypervisor's, and set_gdt takes no call gate
# expect:
# | ring 0: esp = kstack_top - 24: 0x00000001
# | ring 0: eip is the return address: 0x00000001
# | ring 0: cs = 0x0000002b
# | ring 0: parameter 1 = 0x11111111
# | ring 0: parameter 2 = 0x22222222
# | ring 0: esp = ustack_top - 8: 0x00000001
# | ring 0: ss = 0x00000033
# | ring 3: esp restored: 0x00000001
.include "conf.inc"
main:
    mov edi, offset gdt + GDT_SPARE
    mov eax, offset callee
    mov bx, KERNEL_CS
    mov cx, 0x02EC                      # 32-bit call gate, DPL 3, 2 parameters
    call mkgate
    lgdt [gdt_desc]
    TO_RING3 user
user:
    push 0x11111111                     # parameter 1 (higher address)
    push 0x22222222                     # parameter 2
    lcall GDT_SPARE | 3, 0
ret3:
    xor ebx, ebx
    cmp esp, offset ustack_top
    sete bl
    USHOW "ring 3: esp restored: ", ebx
    mov eax, 3
    int 0x80
callee:
    mov ax, KERNEL_DS
    mov ds, ax
    mov es, ax
    xor edx, edx
    cmp esp, offset kstack_top - 24
    sete dl
    SHOW "ring 0: esp = kstack_top - 24: ", edx
    xor edx, edx
    cmp dword ptr [esp], offset ret3
    sete dl
    SHOW "ring 0: eip is the return address: ", edx
    SHOW "ring 0: cs = ", [esp + 4]
    SHOW "ring 0: parameter 1 = ", [esp + 12]
    SHOW "ring 0: parameter 2 = ", [esp + 8]
    xor edx, edx
    cmp dword ptr [esp + 16], offset ustack_top - 8
    sete dl
    SHOW "ring 0: esp = ustack_top - 8: ", edx
    SHOW "ring 0: ss = ", [esp + 20]
    mov ax, USER_DS
    mov ds, ax
    mov es, ax
    lret 8
