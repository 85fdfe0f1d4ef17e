# title: WRITE SECTORS of 3 sectors to LBA 200 (PIO data-out: DRQ without an interrupt for the first block, an interrupt after each block, the last with DRQ=0), then READ SECTORS of LBA 199-203 returns the new data between the old neighbours
# spec: ATA/ATAPI-6 (T13/1410D rev. 3a) 8.62 WRITE SECTOR(S), 9.6 PIO data-out command protocol, 8.34 READ SECTOR(S), 9.5 PIO data-in command protocol
# paravirt: n/a a paravirtual kernel does no port I/O: it has no ATA registers to drive (the disk, if any, is the hypervisor's)
# disk: 1008
# Block i written to LBA n has word i = ((n * 0x101 + i * 0x3B) ^ 0x5A5A) & 0xFFFF (ata_fill);
# hashes as in ata_read_sectors (LBA 199 and 203 are vlab.hw.disk.pattern's).
# expect:
# | write: interrupts 3
# | write: status after (BSY DRDY DRQ ERR): 0x00000040
# | read: interrupts 5
# | block 0: stamp 199, hash 0xacc555b7
# | block 1: stamp 2472120978, hash 0x429ad980
# | block 2: stamp 2422117267, hash 0xfed83980
# | block 3: stamp 2438959248, hash 0xe42fb580
# | block 4: stamp 203, hash 0x898655b3
.include "conf.inc"
.include "ata.inc"
main:
    call ata_setup
    mov eax, 200
    mov cl, 3
    call ata_write_sectors
    ATA_WINDOW
    SHOWD "write: interrupts ", [ata_irqs]
    call ata_wait_not_busy
    and al, ATA_SHOWN
    SHOW "write: status after (BSY DRDY DRQ ERR): ", eax
    mov dword ptr [ata_irqs], 0
    mov eax, 199
    mov cl, 5
    call ata_read_sectors
    call ata_wait_not_busy
    ATA_WINDOW
    SHOWD "read: interrupts ", [ata_irqs]
    call ata_show_blocks
    EXIT 0
