"""Exercise 10: the back end of a paravirtual block device (a virtio-style split ring)."""

EVTCHNOP_send, RING_PORT = 4, 1  # the notification: event_channel_op(EVTCHNOP_send, &{port})
ENOSYS, EINVAL, EFAULT = -38, -22, -14
IN, OUT = 0, 1  # request types (virtio-blk)
OK, IOERR, UNSUPP = 0, 1, 2  # status bytes
NEXT, WRITE = 1, 2  # descriptor flags
NO_INTERRUPT = 1  # available-ring flag


def hypercall_event_channel_op(vcpu, exit):
    # TODO: check the command (EVTCHNOP_send) and the port (EBX, ECX -> {u32 port});
    # then serve every new available chain of vcpu.blk_queue(), put each in the used ring,
    # interrupt once (vcpu.blk_complete()) and return 0 in EAX
    raise NotImplementedError
