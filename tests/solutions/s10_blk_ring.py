EVTCHNOP_send, RING_PORT = 4, 1
ENOSYS, EINVAL, EFAULT = -38, -22, -14
IN, OUT = 0, 1
OK, IOERR, UNSUPP = 0, 1, 2
NEXT, WRITE = 1, 2
NO_INTERRUPT = 1


def hypercall_event_channel_op(vcpu, exit):
    cmd, ptr = vcpu.regs.ebx, vcpu.regs.ecx
    if cmd != EVTCHNOP_send:
        vcpu.regs.eax = ENOSYS & 0xFFFFFFFF
        return
    if not vcpu.hv.guest_range_ok(ptr, 4):
        vcpu.regs.eax = EFAULT & 0xFFFFFFFF
        return
    if vcpu.mem.u32(ptr) != RING_PORT:
        vcpu.regs.eax = EINVAL & 0xFFFFFFFF
        return
    desc, avail, used, size = vcpu.blk_queue()
    mem = vcpu.mem
    flags, idx = mem.u16(avail), mem.u16(avail + 2)
    done = mem.u16(used + 2)
    new = (idx - done) & 0xFFFF
    if size == 0 or new > size:
        vcpu.regs.eax = EINVAL & 0xFFFFFFFF
        return
    for _ in range(new):
        head = mem.u16(avail + 4 + 2 * (done % size))
        written = serve(vcpu, desc, size, head)
        slot = used + 4 + 8 * (done % size)
        mem.write_u32(slot, head)
        mem.write_u32(slot + 4, written)
        done = (done + 1) & 0xFFFF
        mem.write_u16(used + 2, done)
    if new and not flags & NO_INTERRUPT:
        vcpu.blk_complete()
    vcpu.regs.eax = 0


def chain(vcpu, desc, size, head):
    """The chain's descriptors (addr, len, flags), and whether it ended properly."""
    out, i = [], head
    for _ in range(size):
        if i >= size:
            return out, False
        d = desc + 16 * i
        addr = vcpu.mem.u32(d) | vcpu.mem.u32(d + 4) << 32
        length, flags, nxt = vcpu.mem.u32(d + 8), vcpu.mem.u16(d + 12), vcpu.mem.u16(d + 14)
        out.append((addr, length, flags))
        if not flags & NEXT:
            return out, True
        i = nxt
    return out, False  # longer than the table: it loops


def inside(vcpu, addr, length):
    return addr + length <= 1 << 32 and length > 0 and vcpu.hv.guest_range_ok(addr, length)


def serve(vcpu, desc, size, head):
    """Run one request; returns the bytes written into its buffers."""
    descs, whole = chain(vcpu, desc, size, head)
    last = descs[-1] if descs else None
    status_at = None
    if last is not None and last[2] & WRITE and inside(vcpu, last[0], last[1]):
        status_at = last[0] + last[1] - 1
    status, written = request(vcpu, descs, whole)
    if status_at is None:
        return 0
    vcpu.mem.write(status_at, bytes([status]))
    return written + 1


def request(vcpu, descs, whole):
    """(status, bytes written into the data buffers)."""
    if not whole or len(descs) < 2:
        return IOERR, 0
    (haddr, hlen, hflags), data = descs[0], descs[1:-1]
    if hflags & WRITE or hlen < 16 or not inside(vcpu, haddr, 16):
        return IOERR, 0
    header = vcpu.mem.read(haddr, 16)
    kind = int.from_bytes(header[0:4], "little")
    sector = int.from_bytes(header[8:16], "little")
    if kind not in (IN, OUT):
        return UNSUPP, 0
    for addr, length, flags in data:
        wrong_way = (kind == IN) != bool(flags & WRITE)
        if wrong_way or length % 512 or not inside(vcpu, addr, length):
            return IOERR, 0
    count = sum(length for _, length, _ in data) // 512
    if sector + count > vcpu.disk.sectors:
        return IOERR, 0
    written = 0
    for addr, length, _ in data:
        if kind == IN:
            vcpu.mem.write(addr, vcpu.disk.read(sector, length // 512))
            written += length
        else:
            vcpu.disk.write(sector, vcpu.mem.read(addr, length))
        sector += length // 512
    return OK, written
