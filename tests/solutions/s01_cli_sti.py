def handle_cli(vcpu, exit):
    vcpu.virt.IF = False
    vcpu.skip()


def handle_sti(vcpu, exit):
    vcpu.virt.IF = True
    vcpu.skip()
