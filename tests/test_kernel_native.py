"""The teaching kernel under native: the reference run every strategy is compared against."""

import json
import subprocess
import sys

from vlab.lab import Lab


def test_kernel_halts_with_report(native_kernel):
    lab = native_kernel
    assert lab.status == "halted" and lab.exit_code == 0
    lines = lab.console.splitlines()
    assert "hello from the user task (ring 3)" in lines
    assert "user task CPL (from CS): 3" in lines
    assert "user task: 3 yields took ticks: 3" in lines
    assert "user task survived its #GP and exits" in lines
    assert "#GP from ring 3, error code 0x00000000" in lines
    report = lines[lines.index("--- report ---") + 1:]
    fields = dict(line.split(": ", 1) for line in report if ": " in line)
    assert int(fields["ticks"]) == 20
    assert fields["CPL (from CS)"] == "0"
    assert fields["CR0 (mov)"] == fields["CR0 (smsw)"] == "0x00000011"
    gdt = lab.image.symbols["gdt"]
    assert fields["GDT (sgdt)"] == f"base={gdt:#010x} limit=0x0000003f"
    assert fields["interrupts after popf"] == "0"
    assert fields["CPU vendor (cpuid)"] == "GenuineIntel"
    assert fields["system calls"] == "14"
    assert fields["user #GP faults"] == "1"
    assert lines[-1] == "kernel done"


def test_native_has_no_exits(native_kernel):
    assert native_kernel.trace.total == 0
    assert native_kernel.summary()["exits"] == {}


def test_kernel_run_is_deterministic(native_kernel):
    again = Lab("kernel", "native")
    again.run()
    assert again.console == native_kernel.console
    assert again.instructions == native_kernel.instructions
    assert again.state().vtime == native_kernel.state().vtime


def test_cli_json():
    out = subprocess.run([sys.executable, "-m", "vlab", "run", "--guest", "kernel", "--strategy",
                          "native", "--json"], capture_output=True, text=True, check=True).stdout
    result = json.loads(out)
    assert set(result) == {"guest", "strategy", "status", "exit_code", "console", "instructions",
                           "exits", "monitor_entries", "callouts", "inline", "memory", "error"}
    assert result["monitor_entries"] == result["callouts"] == result["inline"] == 0
    assert result["memory"] == {}
    assert result["status"] == "halted" and result["exit_code"] == 0 and result["error"] is None
    assert "CPL (from CS): 0" in result["console"]
    assert "hello from the user task (ring 3)" in result["console"]
    assert int(result["console"].split("ticks: ")[1].split()[0]) > 0
    assert result["instructions"] > 1000


def test_cli_budget_and_image(tmp_path):
    from tests.conftest import build

    img = tmp_path / "loop.bin"
    img.write_bytes(build("faults", CASE=4).code)
    res = subprocess.run([sys.executable, "-m", "vlab", "run", "--image", str(img),
                          "--max-instructions", "5000", "--json"], capture_output=True, text=True)
    result = json.loads(res.stdout)
    assert res.returncode == 1
    assert result["status"] == "BudgetExhausted" and result["instructions"] == 5000
    assert "5,000" in result["error"] and "jmp" in result["error"]


def test_cli_guests_and_version():
    out = subprocess.run([sys.executable, "-m", "vlab", "guests"], capture_output=True, text=True,
                         check=True).stdout
    assert out.startswith("kernel ") and "demo-popf" in out and "demo-smsw" in out
    ver = subprocess.run([sys.executable, "-m", "vlab", "--version"], capture_output=True,
                         text=True, check=True).stdout
    assert ver.startswith("vlab 0.")


def test_cli_unknown_strategy_is_clear():
    res = subprocess.run([sys.executable, "-m", "vlab", "run", "--strategy", "bogus"],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "invalid choice: 'bogus'" in res.stderr
    assert "binary_translation" in res.stderr  # the choices are listed
