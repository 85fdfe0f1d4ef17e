"""Exercise 8: the console_io and multicall hypercalls, with argument validation."""

EINVAL, EFAULT = -22, -14


def hypercall_console_io(vcpu, exit):
    # TODO
    raise NotImplementedError


def hypercall_multicall(vcpu, exit):
    # TODO
    raise NotImplementedError
