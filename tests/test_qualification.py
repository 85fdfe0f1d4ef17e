"""Exit qualifications in Intel's formats (SDM vol. 3, tables 28-3 and 28-5), table-driven."""

import pytest

from vlab.isa import decoder
from vlab.monitor import qualification as q
from vlab.monitor.dispatch import cr_qualification


@pytest.mark.parametrize("code,qual,text", [
    ("0f20c0", 0x0010, "MOV from CR0 to EAX"),  # mov eax, cr0
    ("0f22c3", 0x0300, "MOV to CR0 from EBX"),  # mov cr0, ebx
    ("0f22db", 0x0303, "MOV to CR3 from EBX"),  # mov cr3, ebx
    ("0f20d9", 0x0113, "MOV from CR3 to ECX"),  # mov ecx, cr3
    ("0f22e7", 0x0704, "MOV to CR4 from EDI"),  # mov cr4, edi
    ("0f06", 0x0020, "CLTS"),
])
def test_cr_qualification(code, qual, text):
    insn = decoder().decode(bytes.fromhex(code), 0x1000)
    assert cr_qualification(insn) == qual
    assert str(q.decode_cr(qual)) == text


def test_cr_roundtrip_and_lmsw():
    v = q.encode_cr(0, 3, lmsw_data=0x1234, lmsw_memory=True)
    d = q.decode_cr(v)
    assert (d.access_type, d.lmsw_data, d.lmsw_memory) == (3, 0x1234, True)
    assert v >> 16 == 0x1234 and v & 0x40


@pytest.mark.parametrize("port,size,is_in,imm,qual", [
    (0x3F8, 1, False, False, 0x03F8_0000),
    (0x3FD, 1, True, False, 0x03FD_0008),
    (0xF4, 1, False, True, 0x00F4_0040),
    (0x40, 4, False, True, 0x0040_0043),
    (0x60, 2, True, True, 0x0060_0049),
])
def test_io_qualification(port, size, is_in, imm, qual):
    assert q.encode_io(port, size, is_in, immediate=imm) == qual
    d = q.decode_io(qual)
    assert (d.port, d.size, d.is_in, d.immediate) == (port, size, is_in, imm)


def test_io_string_rep_bits_and_text():
    v = q.encode_io(0x3F8, 1, False, string=True, rep=True)
    assert v & 0x10 and v & 0x20
    assert str(q.decode_io(q.encode_io(0x3F8, 1, False))) == "OUT dx=0x3f8 size 1"
    with pytest.raises(ValueError):
        q.encode_io(0x3F8, 3, False)
