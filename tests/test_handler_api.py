"""The handler API is written once (vlab.monitor.api) and both sides implement it: the virtual CPU
in the monitor and the grader's proxy in the student's process."""

import inspect

from vlab.grading.student import ProxyVcpu
from vlab.lab import Lab
from vlab.monitor.api import CALLS, HandlerVcpu


def _members(protocol) -> set[str]:
    names = {n for n in vars(protocol) if not n.startswith("_")}
    return names | set(getattr(protocol, "__annotations__", {}))


def test_the_virtual_cpu_implements_the_handler_api():
    vcpu = Lab("kernel", "trap_emulate").vcpu
    missing = [n for n in _members(HandlerVcpu) if not hasattr(vcpu, n)]
    assert not missing, f"VirtualCpu lacks {missing}"
    assert isinstance(vcpu, HandlerVcpu)
    for name in CALLS:
        want = inspect.signature(getattr(HandlerVcpu, name))
        got = inspect.signature(getattr(vcpu, name))
        assert list(got.parameters) == list(want.parameters)[1:], name


def test_the_sandbox_proxy_is_made_from_the_handler_api():
    assert set(CALLS) <= {n for n in _members(HandlerVcpu) if callable(getattr(HandlerVcpu, n, None))}
    for name in CALLS:
        method = getattr(ProxyVcpu, name)
        assert method.__doc__ == getattr(HandlerVcpu, name).__doc__, name
    sent = []

    class Channel:
        def ask(self, *msg):
            sent.append(msg)
            return [1, 2, 3, 4] if msg[0] == "native_cpuid" else None

    proxy = ProxyVcpu(Channel())
    proxy.inject(13)
    proxy.hypercall(18, 1, 2)
    assert proxy.native_cpuid(0) == (1, 2, 3, 4)
    proxy.note("why", {"a": 1})
    # the API's defaults travel with the call; a variadic tail travels as one list
    assert sent == [("inject", 13, None, False), ("hypercall", 18, [1, 2]),
                    ("native_cpuid", 0, 0), ("note", "why", {"a": 1})]
