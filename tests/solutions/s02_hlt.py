def handle_hlt(vcpu, exit):
    vcpu.skip()
    vcpu.halt()
