"""The grader's wire to a submission: few round trips, the same semantics, no new door.

A handler's general registers come with the call; its register reads are answered in its own
process, and what answers nothing (register writes, ``skip()``, ``console_append``) travels,
in order, with its next real request or with the end of the call."""

import textwrap
from pathlib import Path

import pytest

from vlab.grading import grade, sandbox

ROOT = Path(__file__).parents[1]


@pytest.fixture
def counted(monkeypatch):
    """(calls, requests) of each graded submission, read as its sandbox closes."""
    seen = []
    close = sandbox.Student.close

    def recording(self):
        seen.append((self.calls, self.requests))
        return close(self)

    monkeypatch.setattr(sandbox.Student, "close", recording)
    return seen


def _sub(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "submission.py"
    path.write_text(textwrap.dedent(source))
    return path


def test_the_reference_serial_handlers_cost_a_round_trip_only_for_port_io(counted):
    """03-serial's reference handlers read AL/AX/EAX, write them, append to the console and
    skip: only the few real port reads and writes still cross the wire; full marks."""
    report = grade("03-serial", ROOT / "tests" / "solutions" / "s03_serial.py")
    assert report.score == report.max_score
    calls, requests = counted[-1]
    assert calls > 1_000 and requests < calls / 20


def test_register_parts_and_order_are_as_if_each_request_went_alone(tmp_path, counted):
    """Writes to parts of a register merge locally as the grader merges them; a request made
    after a write sees it (the write travels first); a write a handler makes before raising is
    still made. 01-cli-sti's reference handlers, with register games in front that change
    nothing in the end."""
    source = (ROOT / "tests" / "solutions" / "s01_cli_sti.py").read_text() + """

_cli, _sti = handle_cli, handle_sti


def handle_cli(vcpu, exit):
    eax = vcpu.regs.eax
    vcpu.regs.al = 0x12
    vcpu.regs.ah = 0x34
    assert vcpu.regs.ax == 0x3412 and vcpu.regs.eax == (eax & 0xFFFF0000) | 0x3412
    vcpu.regs.eax = -1
    assert vcpu.regs.eax == 0xFFFFFFFF and vcpu.regs.ah == 0xFF
    vcpu.regs.eax = eax
    _cli(vcpu, exit)


def handle_sti(vcpu, exit):
    esp = vcpu.regs.esp
    vcpu.regs.esp = esp - 4
    vcpu.virt.IF = vcpu.virt.IF  # a real request: the write above travels first; after it,
    assert vcpu.regs.esp == esp - 4  # ... registers are asked for: the grader answers this
    vcpu.regs.esp = esp
    _sti(vcpu, exit)
"""
    report = grade("01-cli-sti", _sub(tmp_path, source))
    assert report.score == report.max_score, str(report)


def test_a_forged_deferred_request_is_refused(tmp_path):
    """A submission that writes its own message, slipping a request that is not a deferred
    one (or a register it was not given) into the list: the grader stops it as malformed and
    grades it 0, never carrying the request out."""
    for forged in ('[["set_reg", "cr0", 0]]', '[["port_write", 1016, 1, 65]]',
                   '[["set_reg", "eax"]]', '"skip"'):
        source = f"""
            import json

            def handle_cli(vcpu, exit):
                ch = vcpu._ch
                ch.sock.sendall(json.dumps(["done", {forged}]).encode() + b"\\n")
                raise SystemExit

            handle_sti = handle_cli
        """
        report = grade("01-cli-sti", _sub(tmp_path, source), hidden=False)
        assert report.score == 0 and "malformed message" in (report.problem or ""), forged
