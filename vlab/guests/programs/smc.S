# Self-modifying code: the kernel rewrites two of its own routines and runs them again
# Under binary translation the monitor must notice the writes, drop the stale translations and
# translate the new code; the guest must also read its own code exactly as it wrote it.
.include "vlab.inc"
.section .text
.globl _start
_start:
    PRINT "code bytes at probe: "
    mov esi, offset probe
    call dump3
    call probe                          # smsw: emulated inline under binary translation
    PRINT "probe (smsw) = "
    call puthex
    call newline

    mov dword ptr [probe], 0x001234B8   # now "mov eax, 0x1234" (B8 34 12 00 00)
    mov byte ptr [probe + 4], 0x00
    call probe                          # the old translation would still run SMSW
    PRINT "patched probe = "
    call puthex
    call newline

    cli
    call flags                          # innocuous: mov eax, 0x11
    PRINT "flags (mov) = "
    call puthex
    call newline
    mov dword ptr [flags], 0x9090589C   # now "pushfd; pop eax; nop; nop" (+ one more nop)
    mov byte ptr [flags + 4], 0x90
    call flags                          # PUSHF must now be translated, or it shows the real IF
    and eax, 0x200
    PRINT "patched flags (pushf), IF bit = "
    call puthex
    call newline
    PRINT "code bytes at flags: "
    mov esi, offset flags
    call dump3
    EXIT 0

probe:
    smsw eax                            # 0F 01 E0
    nop
    nop
    ret
flags:
    mov eax, 0x11                       # B8 11 00 00 00
    ret

dump3:                                  # print the 3 bytes at esi
    push eax
    push ecx
    mov ecx, 3
1:  movzx eax, byte ptr [esi]
    call puthex
    mov al, ' '
    call putc
    inc esi
    loop 1b
    call newline
    pop ecx
    pop eax
    ret
.include "lib.inc"
