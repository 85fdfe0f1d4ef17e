"""Exercise 3: emulate the serial port (IN and OUT exits)."""


def handle_in(vcpu, exit):
    # TODO: decode exit.qualification (port, size), produce the value, put it in AL/AX/EAX
    raise NotImplementedError


def handle_out(vcpu, exit):
    # TODO: decode exit.qualification; the serial transmit register goes to the console
    raise NotImplementedError
