from vlab.grading.core import Scenario, custom, halted

INSTALL = {"hypercall_console_io": "console_io", "hypercall_multicall": "multicall"}
E = lambda v: v & 0xFFFFFFFF  # noqa: E731


def results(expected, index, what):
    def test(run):
        base = run.lab.image.symbols["results"]
        got = run.lab.read_u32(base + 4 * index)
        return got == E(expected), f"{what}: expected {E(expected):#x}, got {got:#x}"
    return custom(what, 1, test)


SCENARIOS = [
    Scenario("hostile and batched hypercalls", "pv_calls.S", "paravirt", INSTALL,
             [halted(1), results(-14, 1, "console_io with a buffer outside the guest -> -EFAULT"),
              results(-22, 2, "console_io with an unknown command -> -EINVAL"),
              results(-14, 5, "multicall with a bad array pointer -> -EFAULT"),
              results(0, 6, "multicall returns 0"),
              results(3, 7, "multicall writes each call's result (console_io: 3 bytes)"),
              results(3, 9, "console_io returns the number of bytes written")],
             visibility="hidden"),
]
