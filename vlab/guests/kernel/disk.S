# The disk workload: an ATA PIO driver with interrupt-driven completion, writing and reading back.
#
# A small protected-mode kernel with one device driver, for the chapter on I/O virtualization:
#   - IDENTIFY DEVICE: how many sectors the disk has, and whether it speaks LBA;
#   - reads the first PATTERN sectors as they are on the disk image and checksums them;
#   - writes SECTORS sectors of generated data from LBA FIRST, BATCH sectors a command (WRITE
#     SECTORS, 256 words through the data port per sector, an interrupt after each), then reads
#     them back (READ SECTORS, an interrupt before each sector) and compares checksums;
#   - asks for a sector past the end of the disk: the drive refuses (ERR, with IDNF or ABRT);
#   - prints how many disk interrupts (IRQ 14, vector 0x2E through the slave 8259) it took.
# Every register access is an IN or OUT: under trap-and-emulate each one traps, under binary
# translation each is a callout, under VT-x each is an I/O exit (when the controls say so).
# ATA/ATAPI-6 (ANSI INCITS 361-2002): registers section 7, commands 8.15, 8.27, 8.62, PIO data-in
# and data-out protocols 9.5 and 9.6. The 8259s: master line 2 is the slave (IRQ 8-15).

.include "vlab.inc"
.include "kernel.inc"

.ifndef SECTORS
.set SECTORS, 32               # sectors written and read back (16 KiB)
.endif
.ifndef BATCH
.set BATCH, 8                  # sectors a command
.endif
.ifndef FIRST
.set FIRST, 64                 # the first sector written (the image's own data comes before)
.endif
.ifndef PATTERN
.set PATTERN, 4                # sectors of the image read as they are
.endif
.set GDT_ENTRIES, 8
.set ATA_DATA, 0x1F0
.set ATA_ERROR, 0x1F1
.set ATA_COUNT, 0x1F2
.set ATA_LBA0, 0x1F3
.set ATA_LBA1, 0x1F4
.set ATA_LBA2, 0x1F5
.set ATA_DEVICE, 0x1F6
.set ATA_COMMAND, 0x1F7        # read: status
.set ATA_ALTSTATUS, 0x3F6      # read: status without acknowledging the interrupt
.set ATA_IDENTIFY, 0xEC
.set ATA_READ, 0x20
.set ATA_WRITE, 0x30
.set PIC2_CMD, 0xA0
.set PIC2_DATA, 0xA1
.set DISK_VECTOR, 0x2E         # IRQ 14: the slave 8259's line 6 (vectors 0x28-0x2F)

.section .text
.globl _start
_start:
    mov esp, offset kernel_stack_top
    PRINT "vlab disk workload\n"
    LOAD_SEGMENTS

    # --- The IDT: every exception to a catch-all, the disk's interrupt to its handler.
    xor eax, eax
.Lfill_idt:
    mov ebx, offset unexpected_exception
    call set_gate
    inc eax
    cmp eax, 32
    jb .Lfill_idt
    mov eax, DISK_VECTOR
    mov ebx, offset disk_interrupt
    call set_gate
    lidt [idt_desc]

    # --- The 8259s: only the cascade (master line 2) and the disk (slave line 6).
    mov al, 0xFB
    out PIC_DATA, al
    mov al, 0xBF
    out PIC2_DATA, al
    mov al, 0                           # interrupts on in the drive (nIEN = 0)
    mov dx, ATA_ALTSTATUS
    out dx, al
    sti

    # --- IDENTIFY DEVICE: one 512-byte block of data, announced by an interrupt.
    mov al, 0xE0                        # LBA, the master drive
    mov dx, ATA_DEVICE
    out dx, al
    mov al, ATA_IDENTIFY
    mov dx, ATA_COMMAND
    out dx, al
    call wait_disk
    jc identify_failed
    mov edi, offset buffer
    call read_block
    PRINT "disk: "
    mov eax, [buffer + 120]             # words 60-61: user-addressable sectors (LBA28)
    mov [disk_sectors], eax
    call putdec
    PRINT " sectors, LBA "
    test word ptr [buffer + 98], 0x200  # word 49 bit 9: LBA supported
    jz 1f
    PRINT "yes\n"
    jmp 2f
1:  PRINT "no\n"
2:

    # --- The image as it is: its first PATTERN sectors, one READ SECTORS command.
    xor eax, eax
    mov ecx, PATTERN
    mov edi, offset buffer
    call read_sectors
    jc io_failed
    mov esi, offset buffer
    mov ecx, PATTERN * 128
    call checksum
    PRINT "image sectors 0-"
    push eax
    mov eax, PATTERN - 1
    call putdec
    PRINT ": checksum "
    pop eax
    call puthex
    call newline

    # --- Write SECTORS sectors of generated data, BATCH a command.
    xor ebx, ebx                        # sectors written
    mov dword ptr [expected], 0
.Lwrite_batch:
    mov edi, offset buffer              # generate the batch: dword j of sector s is
    mov ecx, BATCH * 128                # (s << 16) ^ (j * 0x9E3779B1)
    xor edx, edx
.Lgenerate:
    mov eax, edx
    shr eax, 7                          # the sector within the batch
    add eax, ebx
    shl eax, 16
    push edx
    imul edx, edx, 0x9E3779B1
    xor eax, edx
    pop edx
    stosd
    inc edx
    loop .Lgenerate
    mov esi, offset buffer
    mov ecx, BATCH * 128
    push ebx
    mov ebx, [expected]
    call checksum_more
    mov [expected], eax
    pop ebx
    lea eax, [ebx + FIRST]
    mov ecx, BATCH
    mov esi, offset buffer
    call write_sectors
    jc io_failed
    inc dword ptr [write_commands]
    add ebx, BATCH
    cmp ebx, SECTORS
    jb .Lwrite_batch
    PRINT "wrote "
    mov eax, SECTORS / 2
    call putdec
    PRINT " KiB in "
    mov eax, [write_commands]
    call putdec
    PRINT " commands\n"

    # --- Read them back, BATCH a command, and checksum what came back.
    xor ebx, ebx
    xor eax, eax
    mov [actual], eax
.Lread_batch:
    lea eax, [ebx + FIRST]
    mov ecx, BATCH
    mov edi, offset buffer
    call read_sectors
    jc io_failed
    mov esi, offset buffer
    mov ecx, BATCH * 128
    push ebx
    mov ebx, [actual]
    call checksum_more
    mov [actual], eax
    pop ebx
    add ebx, BATCH
    cmp ebx, SECTORS
    jb .Lread_batch
    PRINT "read back "
    mov eax, SECTORS / 2
    call putdec
    PRINT " KiB: checksum "
    mov eax, [actual]
    call puthex
    mov eax, [actual]
    cmp eax, [expected]
    jne 1f
    PRINT " (as written)\n"
    jmp 2f
1:  PRINT " (written: "
    mov eax, [expected]
    call puthex
    PRINT ")\n"
2:

    # --- A sector past the end: the drive refuses the command (ERR; IDNF or ABRT).
    PRINT "read past the end: "
    mov eax, [disk_sectors]
    mov ecx, 1
    mov edi, offset buffer
    call read_sectors
    jnc 1f
    PRINT "refused, status "
    movzx eax, byte ptr [last_status]
    and eax, 0xC9                       # BSY, DRDY, DRQ, ERR (DSC is command-dependent)
    call puthex
    mov dx, ATA_ERROR
    in al, dx
    test al, 0x14                       # IDNF or ABRT: ATA-6 allows either (8.27.6)
    jz 3f
    PRINT ", error IDNF or ABRT\n"
    jmp 2f
3:  PRINT ", no error bit (wrong)\n"
    jmp 2f
1:  PRINT "accepted (wrong)\n"
2:
    PRINT "disk interrupts: "
    mov eax, [disk_interrupts]
    call putdec
    call newline
    cli
    EXIT 0

identify_failed:
    PRINT "IDENTIFY DEVICE failed: no disk\n"
    EXIT 4
io_failed:
    PRINT "disk error, status "
    mov al, [last_status]
    movzx eax, al
    call puthex
    call newline
    EXIT 5

# read_sectors: eax = first LBA, ecx = count (1-256), edi = buffer. CF set if the drive refused.
read_sectors:
    push ecx
    call ata_command_setup
    mov al, ATA_READ
    mov dx, ATA_COMMAND
    out dx, al
    pop ecx
.Lread_next:
    call wait_disk                      # each sector is announced by an interrupt
    jc .Lread_done
    call read_block
    loop .Lread_next
    clc
.Lread_done:
    ret

# write_sectors: eax = first LBA, ecx = count (1-256), esi = data. CF set on an error.
write_sectors:
    push ecx
    call ata_command_setup
    mov al, ATA_WRITE
    mov dx, ATA_COMMAND
    out dx, al
    pop ecx
    call wait_drq                       # the first block is asked for without an interrupt
    jc .Lwrite_done
.Lwrite_next:
    push ecx
    mov ecx, 256
    mov dx, ATA_DATA
    cld
    rep outsw
    pop ecx
    call wait_disk                      # an interrupt after each sector: next one, or done
    jc .Lwrite_done
    loop .Lwrite_next
    clc
.Lwrite_done:
    ret

# ata_command_setup: sector count (cl) and LBA (eax) into the command block, master, LBA mode.
ata_command_setup:
    push eax
    mov dx, ATA_COUNT
    mov al, cl
    out dx, al
    mov eax, [esp]
    mov dx, ATA_LBA0
    out dx, al
    shr eax, 8
    mov dx, ATA_LBA1
    out dx, al
    shr eax, 8
    mov dx, ATA_LBA2
    out dx, al
    shr eax, 8
    and al, 0x0F
    or al, 0xE0
    mov dx, ATA_DEVICE
    out dx, al
    pop eax
    ret

# read_block: 256 words from the data port to edi (edi advances).
read_block:
    push ecx
    push edx
    mov ecx, 256
    mov dx, ATA_DATA
    cld
    rep insw
    pop edx
    pop ecx
    ret

# wait_disk: sleep until the disk's interrupt handler has run (race-free: STI's shadow covers
# HLT). CF set if the status it saw has ERR.
wait_disk:
    cli
1:  cmp byte ptr [disk_event], 0
    jne 2f
    sti
    hlt
    cli
    jmp 1b
2:  mov byte ptr [disk_event], 0
    sti
    test byte ptr [last_status], 0x01
    jz 3f
    stc
    ret
3:  clc
    ret

# wait_drq: poll Alternate Status (no acknowledge) until BSY clears and DRQ or ERR is set.
wait_drq:
    push eax
    push edx
    mov dx, ATA_ALTSTATUS
1:  in al, dx
    test al, 0x80
    jnz 1b
    test al, 0x09
    jz 1b
    mov [last_status], al
    test al, 0x01
    pop edx
    pop eax
    jz 2f
    stc
    ret
2:  clc
    ret

# checksum: eax = checksum of ecx dwords at esi (rotate, add); checksum_more continues ebx's.
checksum:
    xor ebx, ebx
checksum_more:
    push esi
    push ecx
    mov eax, ebx
1:  rol eax, 5
    add eax, [esi]
    add esi, 4
    loop 1b
    pop ecx
    pop esi
    ret

# The disk's interrupt: read Status (that acknowledges it at the drive), note it, EOI both 8259s.
disk_interrupt:
    push eax
    push edx
    mov dx, ATA_COMMAND
    in al, dx
    mov [last_status], al
    mov byte ptr [disk_event], 1
    inc dword ptr [disk_interrupts]
    mov al, 0x20
    out PIC2_CMD, al
    out PIC_CMD, al
    pop edx
    pop eax
    KIRET

unexpected_exception:
    PRINT "unexpected exception: kernel stops\n"
    EXIT 1

# set_gate: IDT entry eax -> handler ebx, ring-0 interrupt gate.
set_gate:
    push edx
    lea edx, [idt + eax * 8]
    mov [edx], bx
    mov word ptr [edx + 2], KERNEL_CS
    mov byte ptr [edx + 4], 0
    mov byte ptr [edx + 5], 0x8E
    push ebx
    shr ebx, 16
    mov [edx + 6], bx
    pop ebx
    pop edx
    ret

.include "lib.inc"

.section .data
    KERNEL_GDT
.align 4
disk_sectors:    .long 0
disk_interrupts: .long 0
write_commands:  .long 0
expected:        .long 0
actual:          .long 0
last_status:     .byte 0
disk_event:      .byte 0
.align 16
tss:             .space 0x68
.align 8
idt:             .space (SYSCALL_VECTOR + 1) * 8
.align 16
buffer:          .space BATCH * 512 + 512
.align 16
                 .space 4096
kernel_stack_top:
