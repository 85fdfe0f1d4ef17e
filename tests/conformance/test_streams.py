"""Random instruction streams (tests/conformance/streams.py): vlab's native run against Bochs,
and every strategy against native (paravirtualization runs the same streams in a paravirtual
build). 3,200 streams in 8 images: one Bochs boot and one run per strategy per image, so the
whole comparison costs seconds."""

from __future__ import annotations

import functools

import pytest

from vlab.isa import INCLUDE_DIR, assemble
from vlab.lab import Lab

from .bochs import run_on_bochs
from .programs import PROGRAMS_DIR
from .streams import single_stream, stream_source

IMAGES, PER_IMAGE = 8, 400  # 3,200 streams
STRATEGIES = ["trap_emulate", "binary_translation", "vtx", "paravirt"]


@functools.lru_cache(maxsize=None)
def _image(seed: int, pv: bool = False):
    """The streams of ``seed`` as a conformance program, or (``pv``) as a paravirtual image
    (the same streams; console and exit through hypercalls)."""
    return assemble(stream_source(seed, PER_IMAGE, pv=pv), f"streams-{seed}",
                    include_dirs=[PROGRAMS_DIR, INCLUDE_DIR], defines={"PV": 1} if pv else None)


@functools.lru_cache(maxsize=None)
def _run(seed: int, strategy: str) -> tuple[str, int]:
    lab = Lab(image=_image(seed, pv=strategy == "paravirt"), strategy=strategy,
              budget=5_000_000)
    lab.run()
    assert lab.exit_code == 0, (strategy, lab.console[-200:])
    return lab.console, lab.instructions


def _first_difference(seed: int, got: str, want: str, where: str) -> str:
    """Which stream differs first, and its instructions (streams.single_stream(seed, index)
    runs it alone and prints every register)."""
    a, b = got.splitlines(), want.splitlines()
    index = next(i for i in range(max(len(a), len(b)))
                 if i >= len(a) or i >= len(b) or a[i] != b[i])
    source = single_stream(seed, index)
    body = source[source.index("main:"):source.index("STREAM_DUMP")]
    return (f"image {seed}, stream {index}: {where} hash {a[index] if index < len(a) else None}"
            f" != {b[index] if index < len(b) else None}\n{body}")


@pytest.mark.parametrize("seed", range(IMAGES))
def test_native_streams_equal_bochs(seed: int):
    console, _ = _run(seed, "native")
    assert len(console.splitlines()) == PER_IMAGE
    bochs = run_on_bochs(_image(seed), timeout=60)
    assert not bochs.timed_out and bochs.exit_code == 0, bochs.log_tail
    assert console == bochs.console, _first_difference(seed, console, bochs.console,
                                                        "vlab native / Bochs")


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("seed", range(IMAGES))
def test_streams_equal_native_under_every_strategy(seed: int, strategy: str):
    native, count = _run(seed, "native")
    console, instructions = _run(seed, strategy)
    assert console == native, _first_difference(seed, console, native, f"{strategy} / native")
    if strategy in ("binary_translation", "vtx"):  # (trap-and-emulate's boot and paravirt's
        # hypercalls retire other instructions around the streams)
        assert instructions == count, (strategy, instructions, count)


def test_a_stream_changes_the_hash():
    """The hash sees the registers: two different seeds give different lines."""
    a = _run(0, "native")[0].splitlines()
    b = _run(1, "native")[0].splitlines()
    assert len(set(a)) > PER_IMAGE * 0.9 and a != b
