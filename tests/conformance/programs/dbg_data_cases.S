# title: data breakpoints: R/W=11 fires on a read; a store next to a 2-byte range and a read under R/W=01 do not; a watched INC runs once; a PUSH onto a watched slot fires after the push
# sdm: vol. 3B 18.2.4 (R/Wn 01 = writes, 11 = reads or writes; LENn 01 = 2 bytes, 11 = 4 bytes), 18.3.1.2 "Data Memory and I/O Breakpoint Exception Conditions" (a trap: EIP after the instruction, DR6.Bn set)
# paravirt: n/a the debug registers (MOV DR, and its own #DB gate in the IDT): the hypervisor's (Xen's set_debugreg is not in vlab)
# expect:
# | exception 1, eip +6
# | read: DR6 & 0xe00f = 0x00000001
# | beside and read: DR6 & 0xe00f = 0x00000000
# | exception 1, eip +6
# | inc: var3 = 0x00000008
# | exception 1, eip +5
# | push: slot = 0x00001234
# | done
.include "conf.inc"
main:
    xor eax, eax
    mov dr6, eax
    mov eax, offset var1                # DR0: var1, R/W0 = 11, LEN0 = 11 (4 bytes), L0
    mov dr0, eax
    mov eax, 0x000F0001
    mov dr7, eax
    MARK 1f
    RESUME 2f
1:  mov ebx, dword ptr [var1]           # 6 bytes: 8B 1D disp32
2:  mov eax, dr6
    and eax, 0xE00F
    SHOW "read: DR6 & 0xe00f = ", eax
    xor eax, eax
    mov dr6, eax
    mov eax, offset var2                # DR0: var2, R/W0 = 01, LEN0 = 01 (2 bytes)
    mov dr0, eax
    mov eax, 0x00050001
    mov dr7, eax
    mov byte ptr [var2 + 2], 1
    mov ax, word ptr [var2]
    mov eax, dr6
    and eax, 0xE00F
    SHOW "beside and read: DR6 & 0xe00f = ", eax
    mov eax, offset var3                # DR0: var3, R/W0 = 01, LEN0 = 11
    mov dr0, eax
    mov eax, 0x000D0001
    mov dr7, eax
    MARK 3f
    RESUME 4f
3:  inc dword ptr [var3]                # 6 bytes: FF 05 disp32
4:  SHOW "inc: var3 = ", [var3]
    mov eax, offset pstack_top - 4      # DR0: the slot a PUSH writes
    mov dr0, eax
    MARK 5f
    RESUME 6f
    mov esp, offset pstack_top
5:  push 0x1234                         # 5 bytes: 68 imm32
6:  mov esp, 0x100000
    xor eax, eax
    mov dr7, eax
    SHOW "push: slot = ", [pstack_top - 4]
    PRINT "done\n"
    EXIT 0
.section .data
.align 4
var1: .long 0
var2: .long 0
var3: .long 7
pstack: .space 256
pstack_top:
