"""Exercise 9: the EPT-violation handler of a VT-x hypervisor (demand allocation)."""


def handle_ept_violation(vcpu, exit):
    # TODO: the guest-physical address is in vcpu.vmcs["GUEST_PHYSICAL_ADDRESS"]; map its page
    # with vcpu.ept.map(...). (Which address is *not* the right one to map?)
    raise NotImplementedError
