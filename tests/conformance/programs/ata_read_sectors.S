# title: READ SECTORS of 4 sectors from LBA 5 (LBA addressing): one interrupt per 512-byte DRQ block and none after the last, the blocks are those sectors in order; then the last sector (LBA 1007) alone
# spec: ATA/ATAPI-6 (T13/1410D rev. 3a) 8.34 READ SECTOR(S), 9.5 PIO data-in command protocol, 7.7 Device (LBA bit, LBA 27:24), 7.11-7.14 (LBA High/Low/Mid, Sector Count)
# paravirt: n/a a paravirtual kernel does no port I/O: it has no ATA registers to drive (the disk, if any, is the hypervisor's)
# disk: 1008
# The hashes are the fold h = h * 31 + w (mod 2^32) over each sector's 256 little-endian words
# of vlab.hw.disk.pattern(1008) (ata.inc's ata_hash_buf); the stamp is the sector's first dword.
# expect:
# | interrupts: 4
# | status after the data (BSY DRDY DRQ ERR): 0x00000040
# | interrupts after the data: 4
# | block 0: stamp 5, hash 0x04fef479
# | block 1: stamp 6, hash 0x2f952478
# | block 2: stamp 7, hash 0x12525677
# | block 3: stamp 8, hash 0x0c688676
# | last sector: interrupts 1, stamp 1007, hash 0xa593728f
.include "conf.inc"
.include "ata.inc"
main:
    call ata_setup
    mov eax, 5
    mov cl, 4
    call ata_read_sectors
    SHOWD "interrupts: ", [ata_irqs]
    call ata_wait_not_busy
    and al, ATA_SHOWN
    SHOW "status after the data (BSY DRDY DRQ ERR): ", eax
    ATA_WINDOW
    SHOWD "interrupts after the data: ", [ata_irqs]
    call ata_show_blocks
    mov dword ptr [ata_irqs], 0
    mov dword ptr [ata_blocks], 0
    mov eax, 1007
    mov cl, 1
    call ata_read_sectors
    mov esi, offset msg_read_0
    call ata_read_report
    EXIT 0

.section .rodata
msg_read_0: .asciz "last sector: "
