# title: READ SECTORS at an LBA past the last sector (1008 of a 1008-sector disk; 65536 = LBA High 01h; 16777216 = LBA bits 27:24 in the Device register 1h; 0x0FFFFFFF) completes with an interrupt, BSY=0 and ERR=1, with IDNF or ABRT set in the Error register; the drive then reads LBA 0 normally
# spec: ATA/ATAPI-6 (T13/1410D rev. 3a) 8.34 READ SECTOR(S) (inputs: the LBA in LBA Low/Mid/High and Device bits 3-0; error outputs: IDNF for an address outside the user-addressable range if ABRT is not returned, ABRT if IDNF is not set), 7.7 Device, 7.9 Error, 7.15 Status, 9.5 PIO data-in command protocol (an error ends the command with INTRQ)
# paravirt: n/a a paravirtual kernel does no port I/O: it has no ATA registers to drive (the disk, if any, is the hypervisor's)
# disk: 1008
# Which of IDNF and ABRT is set is the drive's choice (Bochs's sets ABRT), so only "one of them"
# is printed; DRQ and DRDY with an error are not printed either.
# expect:
# | LBA 1008: interrupts 1, status (BSY ERR) 0x00000001, IDNF or ABRT 1
# | LBA 65536: interrupts 1, status (BSY ERR) 0x00000001, IDNF or ABRT 1
# | LBA 16777216: interrupts 1, status (BSY ERR) 0x00000001, IDNF or ABRT 1
# | LBA 268435455: interrupts 1, status (BSY ERR) 0x00000001, IDNF or ABRT 1
# | LBA 0 after the errors: interrupts 1, stamp 0, hash 0x5a16867e
.include "conf.inc"
.include "ata.inc"
main:
    call ata_setup
    mov eax, 1008
    call bad_read
    mov eax, 0x10000                    # a drive that ignored LBA High would read LBA 0
    call bad_read
    mov eax, 0x1000000                  # one that ignored Device bits 3-0 would read LBA 0
    call bad_read
    mov eax, 0x0FFFFFFF
    call bad_read
    mov dword ptr [ata_irqs], 0
    xor eax, eax
    mov cl, 1
    call ata_read_sectors
    mov esi, offset msg_read_0
    call ata_read_report
    EXIT 0

# bad_read: READ SECTORS of 1 sector at LBA eax; print what the drive said.
bad_read:
    mov dword ptr [ata_irqs], 0
    PRINT "LBA "
    call putdec
    mov cl, 1
    call ata_select_lba
    mov al, ATA_READ
    call ata_command
    mov ecx, 1
    call ata_wait_irqs
    ATA_WINDOW
    PRINT ": interrupts "
    mov eax, [ata_irqs]
    call putdec
    PRINT ", status (BSY ERR) "
    movzx eax, byte ptr [ata_irq_status]
    and al, ATA_BSY | ATA_ERR
    call puthex
    PRINT ", IDNF or ABRT "
    ATA_IN ATA_ERROR
    test al, ATA_IDNF | ATA_ABRT
    setnz al
    call putdec
    call newline
    ret

.section .rodata
msg_read_0: .asciz "LBA 0 after the errors: "
