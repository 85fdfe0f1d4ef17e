# title: A Sector Count of 0 means 256 sectors: READ SECTORS with count 0 from LBA 300 transfers the 256 sectors 300-555, with 256 interrupts, and then ends (BSY=0, DRQ=0)
# spec: ATA/ATAPI-6 (T13/1410D rev. 3a) 8.34 READ SECTOR(S) (inputs: Sector Count 00h specifies that 256 sectors are to be transferred), 7.14 Sector Count, 9.5 PIO data-in command protocol
# paravirt: n/a a paravirtual kernel does no port I/O: it has no ATA registers to drive (the disk, if any, is the hypervisor's)
# disk: 1008
# The hash is the fold h = h * 31 + w over all 131072 words of sectors 300-555 of
# vlab.hw.disk.pattern(1008).
# expect:
# | blocks 256, interrupts 256
# | status after the data (BSY DRDY DRQ ERR): 0x00000040
# | interrupts after the data: 256
# | first block's stamp 300, last block's stamp 555
# | hash of the 256 sectors: 0x35a6f480
.include "conf.inc"
.include "ata.inc"
main:
    call ata_setup
    mov eax, 300
    mov cl, 0
    call ata_read_sectors
    PRINT "blocks "
    mov eax, [ata_blocks]
    call putdec
    PRINT ", interrupts "
    mov eax, [ata_irqs]
    call putdec
    call newline
    call ata_wait_not_busy
    and al, ATA_SHOWN
    SHOW "status after the data (BSY DRDY DRQ ERR): ", eax
    ATA_WINDOW
    SHOWD "interrupts after the data: ", [ata_irqs]
    PRINT "first block's stamp "
    mov eax, [ata_stamps]
    call putdec
    PRINT ", last block's stamp "
    mov eax, [ata_buf]
    call putdec
    call newline
    SHOW "hash of the 256 sectors: ", [ata_hash]
    EXIT 0
