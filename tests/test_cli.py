"""The ``vlab`` command's conventions: validated arguments, one JSON object with ``--json`` in
every case (errors included), documented exit codes, strategy options, a clean Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import build

KEYS = {"guest", "strategy", "status", "exit_code", "console", "instructions", "exits",
        "monitor_entries", "callouts", "inline", "memory", "error"}


def vlab(*args, **kw):
    return subprocess.run([sys.executable, "-m", "vlab", *args], capture_output=True, text=True,
                          **kw)


@pytest.mark.parametrize("args,words", [
    (["--max-instructions", "-5"], ["-5 is not a positive number"]),
    (["--max-instructions", "lots"], ["'lots' is not a whole number"]),
    (["--strategy", "bogus"], ["invalid choice: 'bogus'"]),
    (["--guest", "nosuch"], ["nosuch"]),
    (["--image", "/nonexistent/image.bin"], ["/nonexistent/image.bin"]),
    (["--strategy", "paravirt"], ["not paravirtualized", "kernel-pv"]),
    (["--strategy", "native", "--option", "ept=off"], ["does not take option(s) ept"]),
    (["--strategy", "vtx", "--option", "ept"], ["write KEY=VALUE"]),
    (["--strategy", "vtx", "--option", "generation=middle"], ["generation 'middle'"]),
    (["--guest", "kernel", "--image", "x.bin"], ["not allowed with argument"]),
])
def test_every_setup_error_is_one_json_object_and_exit_2(args, words):
    res = vlab("run", *args, "--json")
    assert res.returncode == 2, res
    result = json.loads(res.stdout)  # exactly one object: nothing else on stdout
    assert set(result) == KEYS and result["status"] == "error"
    assert all(w in result["error"] for w in words), result["error"]
    plain = vlab("run", *args)
    assert plain.returncode == 2 and plain.stdout == "" and words[0] in plain.stderr


def test_guest_errors_exit_1_with_their_status():
    res = vlab("run", "--guest", "kernel", "--max-instructions", "1000", "--json")
    result = json.loads(res.stdout)
    assert res.returncode == 1 and result["status"] == "BudgetExhausted"
    assert result["instructions"] == 1000


def test_strategy_options_on_the_command_line():
    """VT-x without EPT (first-generation hardware's way): the paging guest's memory summary
    is the shadow pager's; with EPT it is EPT's."""
    off = json.loads(vlab("run", "--guest", "paging", "--strategy", "vtx", "--option", "ept=off",
                          "--json").stdout)
    on = json.loads(vlab("run", "--guest", "paging", "--strategy", "vtx", "--option", "ept=on",
                         "--json").stdout)
    assert off["status"] == on["status"] == "halted" and off["console"] == on["console"]
    assert off["memory"] != on["memory"]
    assert "CR_ACCESS" in off["exits"] and "EPT_VIOLATION" in on["exits"]


def test_ctrl_c_stops_a_run_cleanly(tmp_path):
    image = tmp_path / "spin.bin"
    image.write_bytes(build("faults", CASE=4).code)  # a runaway loop
    proc = subprocess.Popen([sys.executable, "-m", "vlab", "run", "--image", str(image),
                             "--max-instructions", "1000000000000", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    t0 = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 2
    assert proc.returncode == 130, err
    result = json.loads(out)
    assert result["status"] == "interrupted" and result["instructions"] > 0


def test_help_documents_the_exit_codes():
    text = vlab("run", "--help").stdout
    assert "exit codes:" in text and "130" in text and "whatever the score" in text
