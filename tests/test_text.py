"""Counts as a line a student reads (vlab.text), as the notebooks print them."""

from collections import Counter

from vlab.lab import Lab
from vlab.monitor.trace import ExitReason
from vlab.text import counts_text


def test_counts_read_as_words_and_numbers_not_a_python_dict():
    assert counts_text({"CLI": 6, "IO_INSTRUCTION": 1032}) == "CLI 6 · IO_INSTRUCTION 1,032"
    assert counts_text(Counter({("inline_read", "mov eax, cr0"): 1})) == "inline_read mov eax, cr0 1"
    assert counts_text({ExitReason.HLT: 20, "fast_trap": True}) == "HLT 20 · fast_trap yes"
    assert counts_text({}) == "none"
    lab = Lab("kernel", "binary_translation")
    lab.run()
    stats = counts_text(lab.translation_stats())
    assert stats.startswith("blocks 99 · translated 99") and "callouts (in 505 · out 527" in stats
    assert "{" not in stats and "'" not in stats
