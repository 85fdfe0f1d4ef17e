# bochs_boot.S - the boot floppy's first two sectors: start a vlab flat image on Bochs in the
# state vlab's machine starts it in (vlab/hw/machine.py reset, vlab/hw/cpu.py power_on).
# bochs.py assembles it for each image (--defsym IMAGE_SECTORS, ORIGIN, ENTRY, PIT_COUNT) and
# writes the image right after it (LBA 2 onwards).
#
# Sector 0 (the boot sector, at 0x7C00): read LBA 1 .. 1 + IMAGE_SECTORS to 0x7E00 onwards with
# INT 13h, one sector per call (so no read crosses a 64 KiB DMA boundary). Sector 1 (stage 2, at
# 0x7E00): A20 on, shadow RAM at 0xC0000-0xFFFFF, PICs remapped and masked, PIT channel 0, the GDT
# and TSS, protected mode, the image copied to ORIGIN, then a far jump to ENTRY with vlab's
# power-on registers.
.intel_syntax noprefix

.set GDT_ADDR, 0x600        # vlab's boot GDT (8 entries) and TSS: in the free conventional
.set TSS_ADDR, 0x680        # memory above the BIOS data area, where guests do not go
.set BOOT_STACK, 0x100000   # vlab/layout.py BOOT_STACK
.set LOADER_SECTORS, 2
.set LOADED, 0x7C00 + LOADER_SECTORS * 512      # where the image lands in low memory
.set LAST_LBA, LOADER_SECTORS + IMAGE_SECTORS - 1

.section .text
.code16
.globl _start
_start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7C00
    ljmp 0, offset 1f                   # CS = 0 whatever the BIOS jumped with
1:  cld
    mov [drive], dl
    mov word ptr [lba], 1
.Lread:
    mov ax, [lba]                       # LBA -> CHS on a 1.44 MB floppy: 18 sectors, 2 heads
    mov bx, ax
    shl bx, 5                           # ES = 0x07C0 + LBA * 0x20: the sector's 512 bytes
    add bx, 0x07C0
    mov es, bx
    xor dx, dx
    mov bx, 18
    div bx                              # ax = track (cylinder * 2 + head), dx = sector - 1
    mov cl, dl
    inc cl
    mov dh, al
    and dh, 1
    shr ax, 1
    mov ch, al
    mov dl, [drive]
    mov si, 3                           # tries
.Lretry:
    xor bx, bx
    mov ax, 0x0201                      # read 1 sector to ES:BX
    int 0x13
    jnc .Lread_ok
    xor ax, ax                          # reset the controller and try again
    int 0x13
    dec si
    jnz .Lretry
    mov si, offset msg_disk
    jmp fail
.Lread_ok:
    inc word ptr [lba]
    cmp word ptr [lba], LAST_LBA
    jbe .Lread
    jmp stage2

# fail: print the NUL-terminated message at si on COM1, then leave through the exit port.
fail:
    mov dx, 0x3F8
1:  lodsb
    test al, al
    jz 2f
    out dx, al
    jmp 1b
2:  mov al, 0xFF
    out 0xF4, al
3:  hlt
    jmp 3b

msg_disk:   .asciz "bochs loader: disk read error\n"
drive:      .byte 0
lba:        .word 0

    .org 510
    .word 0xAA55

# ---------------------------------------------------------------- stage 2 (0x7E00)
stage2:
    xor ax, ax
    mov es, ax
    in al, 0x92                         # A20 on (fast gate); bit 0 would reset the machine
    or al, 2
    and al, 0xFE
    out 0x92, al

    # i440FX PAM0-PAM6 (PCI 0:0.0 registers 0x59-0x5F): 0xC0000-0xFFFFF read/write DRAM, so that
    # a guest's stack below 1 MiB is RAM as in vlab (the BIOS is not needed any more).
    mov si, 0x59
1:  mov eax, 0x80000000
    mov ax, si
    and al, 0xFC
    mov dx, 0xCF8
    out dx, eax
    mov dx, si
    and dx, 3
    add dx, 0xCFC
    mov al, 0x33                        # both 16 KiB halves read/write
    cmp si, 0x59
    jne 2f
    mov al, 0x30                        # PAM0: its low nibble is reserved
2:  out dx, al
    inc si
    cmp si, 0x5F
    jbe 1b

    # The 8259s: IRQ0-7 at vectors 0x20-0x27, IRQ8-15 at 0x28-0x2F, every line masked.
    mov al, 0x11                        # ICW1: edge, cascade, ICW4 follows
    out 0x20, al
    out 0xA0, al
    mov al, 0x20                        # ICW2: vector bases
    out 0x21, al
    mov al, 0x28
    out 0xA1, al
    mov al, 0x04                        # ICW3: slave on IRQ2
    out 0x21, al
    mov al, 0x02
    out 0xA1, al
    mov al, 0x01                        # ICW4: 8086 mode, normal EOI
    out 0x21, al
    out 0xA1, al
    mov al, 0xFF
    out 0x21, al
    out 0xA1, al

    # PIT channel 0, mode 2 (rate generator): IRQ0 every PIT_COUNT / 1.193182 MHz.
    mov al, 0x34
    out 0x43, al
    mov al, PIT_COUNT & 0xFF
    out 0x40, al
    mov al, PIT_COUNT >> 8
    out 0x40, al

    # vlab's boot GDT and TSS (vlab/layout.py boot_gdt; ESP0 = BOOT_STACK, SS0 = 0x10, no I/O
    # permission bitmap).
    mov si, offset gdt
    mov di, GDT_ADDR
    mov cx, gdt_end - gdt
    rep movsb
    mov di, TSS_ADDR
    xor ax, ax
    mov cx, 0x68 / 2
    rep stosw
    mov dword ptr [TSS_ADDR + 4], BOOT_STACK
    mov word ptr [TSS_ADDR + 8], 0x10
    mov word ptr [TSS_ADDR + 0x66], 0x68
    lgdt [gdtr]
    mov eax, 0x11                       # PE | ET (and CD, NW clear), as vlab's CR0
    mov cr0, eax
    ljmp 0x08, offset pm

.code32
pm: mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    mov esp, BOOT_STACK
    mov ax, 0x38
    ltr ax
    # LTR marked the descriptor busy; vlab's boot GDT shows it available (TR is loaded anyway).
    mov byte ptr [GDT_ADDR + 0x38 + 5], 0x89
    xor eax, eax
    lldt ax
    lidt [idtr]                         # no IDT: base 0, limit 0
    mov cr3, eax
    mov cr4, eax

    mov esi, LOADED                     # the image to ORIGIN, then its low-memory copy zeroed
    mov edi, ORIGIN
    mov ecx, IMAGE_SECTORS * 128
    rep movsd
    mov edi, LOADED
    mov ecx, IMAGE_SECTORS * 128
    rep stosd

    xor ebx, ebx                        # EAX and ECX are 0 already
    xor edx, edx
    xor esi, esi
    xor edi, edi
    xor ebp, ebp
    push 0x2                            # EFLAGS: only the reserved bit (IF = 0, DF = 0)
    popfd
    ljmp 0x08, ENTRY

.align 8
gdt:
    .quad 0
    .quad 0x00CF9A000000FFFF            # 0x08 ring 0 code
    .quad 0x00CF92000000FFFF            # 0x10 ring 0 data
    .quad 0x00CFBA000000FFFF            # 0x18 ring 1 code
    .quad 0x00CFB2000000FFFF            # 0x20 ring 1 data
    .quad 0x00CFFA000000FFFF            # 0x28 ring 3 code
    .quad 0x00CFF2000000FFFF            # 0x30 ring 3 data
    .word 0x67, TSS_ADDR                # 0x38 32-bit TSS at TSS_ADDR (below 64 KiB)
    .byte 0, 0x89, 0, 0
gdt_end:
.align 4
    .word 0
gdtr:
    .word gdt_end - gdt - 1
    .long GDT_ADDR
    .word 0
idtr:
    .word 0
    .long 0

    .org LOADER_SECTORS * 512
