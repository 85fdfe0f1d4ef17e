def handle_ept_violation(vcpu, exit):
    vcpu.ept.map(vcpu.vmcs["GUEST_PHYSICAL_ADDRESS"])
