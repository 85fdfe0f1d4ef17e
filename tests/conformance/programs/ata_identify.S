# title: IDENTIFY DEVICE is PIO data-in: one interrupt with BSY=0 DRQ=1, one 256-word block, then DRDY and no DRQ and no more interrupts; word 0 bit 15 = 0 (an ATA device), word 49 bit 9 = 1 (LBA supported), words 60-61 = the user-addressable sectors (1008)
# spec: ATA/ATAPI-6 (T13/1410D rev. 3a) 8.15 IDENTIFY DEVICE (8.15.8 word 0, word 49, words 60-61), 9.5 PIO data-in command protocol, 5.2.9 INTRQ, 7.15 Status
# paravirt: n/a a paravirtual kernel does no port I/O: it has no ATA registers to drive (the disk, if any, is the hypervisor's)
# disk: 1008
# expect:
# | interrupts after the command: 1
# | status at the interrupt (BSY DRQ ERR): 0x00000008
# | status after 256 words (BSY DRDY DRQ ERR): 0x00000040
# | interrupts after the data: 1
# | word 0 bit 15 (0: ATA device): 0
# | word 49 bit 9 (LBA supported): 1
# | words 60-61 (user-addressable sectors): 1008
.include "conf.inc"
.include "ata.inc"
main:
    call ata_setup
    call ata_wait_not_busy
    ATA_OUT ATA_DEVICE, 0xA0            # device 0
    call ata_wait_not_busy
    mov al, ATA_IDENTIFY
    call ata_command
    mov ecx, 1
    call ata_wait_irqs
    ATA_WINDOW                          # a second interrupt would come in here
    SHOWD "interrupts after the command: ", [ata_irqs]
    movzx eax, byte ptr [ata_irq_status]
    and al, ATA_BSY | ATA_DRQ | ATA_ERR
    SHOW "status at the interrupt (BSY DRQ ERR): ", eax
    call ata_read_block
    call ata_wait_not_busy
    and al, ATA_SHOWN
    SHOW "status after 256 words (BSY DRDY DRQ ERR): ", eax
    ATA_WINDOW
    SHOWD "interrupts after the data: ", [ata_irqs]
    movzx eax, word ptr [ata_buf + 0 * 2]
    shr eax, 15
    SHOWD "word 0 bit 15 (0: ATA device): ", eax
    movzx eax, word ptr [ata_buf + 49 * 2]
    shr eax, 9
    and eax, 1
    SHOWD "word 49 bit 9 (LBA supported): ", eax
    SHOWD "words 60-61 (user-addressable sectors): ", [ata_buf + 60 * 2]
    EXIT 0
