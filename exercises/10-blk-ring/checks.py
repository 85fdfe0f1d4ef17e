from vlab.grading.core import Exercise, Scenario, console_matches_reference, halted, handler_ops

INSTALL = {"hypercall_event_channel_op": "event_channel_op"}
EXERCISE = Exercise(
    name="10-blk-ring",
    title="A paravirtual block device's back end: serving a virtio-style ring",
    handlers=["hypercall_event_channel_op"],
    # a back end reads and writes guest memory (the ring, the buffers), checks what the guest
    # hands it, reaches the disk image, and interrupts its driver once a batch is done
    allowed=handler_ops("guest_range_ok", "blk_queue", "blk_complete", "disk_read",
                        "disk_write", "disk_sectors"),
    scenarios=[
        Scenario("the paravirtual disk workload", "disk-pv", "paravirt", INSTALL,
                 [halted(2), console_matches_reference(4)]),
    ])
