# title: With nIEN=1 in the Device Control register the drive asserts no interrupt: IDENTIFY DEVICE and a 3-sector READ SECTORS run by polling alone and deliver none; with nIEN=0 again IDENTIFY DEVICE interrupts once
# spec: ATA/ATAPI-6 (T13/1410D rev. 3a) 7.8 Device Control (nIEN, bit 1), 5.2.9 INTRQ, 9.5 PIO data-in command protocol (polling: nIEN=1), 8.15 IDENTIFY DEVICE, 8.34 READ SECTOR(S)
# paravirt: n/a a paravirtual kernel does no port I/O: it has no ATA registers to drive (the disk, if any, is the hypervisor's)
# disk: 1008
# expect:
# | nIEN=1, IDENTIFY: status once BSY=0 (BSY DRQ ERR): 0x00000008
# | nIEN=1, IDENTIFY: interrupts 0
# | nIEN=1, READ SECTORS x3: blocks 3, interrupts 0
# | block 0: stamp 10, hash 0x7c15c474
# | block 1: stamp 11, hash 0xadbb7673
# | block 2: stamp 12, hash 0x97d1a672
# | nIEN=0, IDENTIFY: interrupts 1
.include "conf.inc"
.include "ata.inc"
main:
    call ata_setup
    ATA_OUT ATA_DEVCTL, ATA_NIEN
    call ata_identify_polled
    and al, ATA_BSY | ATA_DRQ | ATA_ERR
    SHOW "nIEN=1, IDENTIFY: status once BSY=0 (BSY DRQ ERR): ", eax
    ATA_WINDOW
    SHOWD "nIEN=1, IDENTIFY: interrupts ", [ata_irqs]
    call ata_read_block
    call ata_wait_not_busy
    ATA_WINDOW
    mov dword ptr [ata_blocks], 0
    mov eax, 10                         # READ SECTORS, polled
    mov cl, 3
    call ata_select_lba
    mov al, ATA_READ
    call ata_command
    mov ecx, 3
1:  ATA_IN ATA_ALTSTATUS                # the first read may come before the drive set BSY
    call ata_wait_not_busy
    and al, ATA_BSY | ATA_DRQ | ATA_ERR
    cmp al, ATA_DRQ
    jne 9f
    call ata_read_block
    loop 1b
    call ata_wait_not_busy
    ATA_WINDOW
    PRINT "nIEN=1, READ SECTORS x3: blocks "
    mov eax, [ata_blocks]
    call putdec
    PRINT ", interrupts "
    mov eax, [ata_irqs]
    call putdec
    call newline
    call ata_show_blocks
    ATA_OUT ATA_DEVCTL, 0
    call ata_identify_polled
    mov ecx, 1
    call ata_wait_irqs
    ATA_WINDOW
    SHOWD "nIEN=0, IDENTIFY: interrupts ", [ata_irqs]
    call ata_read_block
    EXIT 0
9:  SHOW "polled read: status ", eax
    EXIT 1

