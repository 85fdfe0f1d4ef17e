# Everything that makes exact instruction counting hard, for tests/test_counting.py: the two
# counters (Unicorn's count= mode and vlab's native block counter) must stop this guest at the
# same instruction for every deadline, tick and step.
#
# A timer with a short period (set by the test) interrupts it everywhere: inside REP string
# instructions (each iteration counts), in MOV SS's and STI's interrupt shadows, in HLT; it
# takes faults (#UD, #DE) and software interrupts; it does port I/O and CPUID in the middle of
# blocks; and it rewrites its own code: a block whose size stays the same while its number of
# instructions changes (two NOPs become one two-byte NOP and back), and a store into the block
# that is executing (the core abandons the block before the store and runs the store again in a
# block of its own: it must retire once).
.include "vlab.inc"
.ifndef ROUNDS
.set ROUNDS, 6
.endif
.section .text
.globl _start
_start:
    mov esp, 0x90000
    SET_GATE idt, 0, skip_div, 0x8E             # #DE: step over the 2-byte DIV
    SET_GATE idt, 6, skip_ud2, 0x8E             # #UD: step over UD2
    SET_GATE idt, TIMER_VECTOR, tick, 0x8E
    SET_GATE idt, SYSCALL_VECTOR, syscall, 0x8E
    lidt [idt_desc]
    mov al, 0xFE                                # unmask IRQ0 only
    out PIC_DATA, al
    sti
    mov ebp, ROUNDS
round:
    # REP string instructions: every iteration is an instruction boundary
    cld
    mov esi, offset source
    mov edi, offset target
    mov ecx, 37
    rep movsb
    mov edi, offset target
    mov eax, ebp
    mov ecx, 9
    rep stosd
    # MOV SS and STI shadows
    mov ax, ss
    mov ss, ax
    add ebx, 1
    cli
    inc ebx
    sti
    inc ebx
    # a fault, a software interrupt, an invalid opcode
    xor edx, edx
    xor ecx, ecx
    mov eax, 7
    div ecx
    int SYSCALL_VECTOR
    ud2
    # I/O and CPUID in the middle of a block
    in al, PIC_DATA
    add ebx, eax
    mov eax, 0
    cpuid
    add ebx, eax
    mov al, 0xFE
    out PIC_DATA, al
    add ebx, 3
    # self-modifying code: flip the block at `flip` between two NOPs and one 2-byte NOP
    mov ax, [flip]
    xor ax, 0x9090 ^ 0x9066
    mov [flip], ax
    jmp flip
flip:
    nop
    nop
    inc ebx
    # a store into the block that is executing: it rewrites the immediate of `patched` (with
    # APART, a jump puts `patched` in a block of its own)
    mov eax, ebp
    mov [patched + 1], eax
.ifdef APART
    jmp patched
.endif
patched:
    mov eax, 0x11111111
    add ebx, eax
    # wait for the next tick
    hlt
    dec ebp
    jnz round
    cli
    mov [result], ebx
    mov eax, [ticks]
    mov [ticks_seen], eax
    EXIT 0

skip_div:
    add dword ptr [esp], 2
    iretd

skip_ud2:
    add dword ptr [esp], 2
    iretd

syscall:
    inc ecx
    iretd

tick:
    push eax
    inc dword ptr [ticks]
    mov al, 0x20                                # EOI
    out PIC_CMD, al
    pop eax
    iretd

.section .data
.align 4
    .word 0
idt_desc:   .word (SYSCALL_VECTOR + 1) * 8 - 1
            .long idt
ticks:      .long 0
ticks_seen: .long 0
result:     .long 0
source:     .ascii "0123456789abcdefghijklmnopqrstuvwxyzABCDEF"
target:     .space 64
.align 8
idt:        .space (SYSCALL_VECTOR + 1) * 8
