"""The grader's feedback in Chinese: ``grade(..., lang="zh")``, ``check(..., lang="zh")`` and
``vlab grade --lang zh``. The same submission scores the same in both languages, scenario by
scenario; only the words change: every feedback line is the Chinese of its English one."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import vlab
from tests.test_grading import EXERCISES, SOLUTIONS, WRONG, _variant
from vlab.grading import check, grade

ROOT = Path(__file__).parents[1]
CJK = re.compile(r"[\u4e00-\u9fff]")
#: The grader's own English, which a Chinese report never shows.
ENGLISH = ("[pass]", "[fail]", "console line", "expected", "the guest runs to its end",
           "console output is right", "last exits before the end", "practice score", "sandbox:",
           "problem:", " exits as vlab's", "(visible)", "(hidden)", "it stopped with",
           "namespaces", "your code", "your file")


@pytest.fixture(autouse=True)
def english_after():
    yield
    vlab.set_language("en")


def _unquoted(text: str) -> str:
    """A report without what it quotes (the guest's console lines, in quotes)."""
    return re.sub(r"'[^'\n]*'", "''", text)


def _file(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "submission.py"
    path.write_text(textwrap.dedent(source))
    return path


def _same_but_chinese(en, zh) -> None:
    """Two reports of one submission: the same scores, scenario by scenario; in the Chinese
    one, every line the grader writes is Chinese."""
    assert zh.language == "zh" and en.language == "en"
    assert [(r.name, r.score, r.max_score, r.visibility) for r in zh.results] == \
        [(r.name, r.score, r.max_score, r.visibility) for r in en.results]
    assert zh.score == en.score and zh.max_score == en.max_score
    text = _unquoted(str(zh))
    for phrase in ENGLISH:
        assert phrase not in text, (phrase, text)
    for r_en, r_zh in zip(en.results, zh.results, strict=True):
        assert CJK.search(r_zh.title) and r_zh.title != r_en.title
        assert len(r_zh.lines) == len(r_en.lines)
        for a, b in zip(r_en.lines, r_zh.lines, strict=True):
            if a.startswith("[pass]"):
                assert b.startswith("[通过]") and CJK.search(b), b
            elif a.startswith("[fail]"):
                assert b.startswith("[未通过]") and CJK.search(b), b
    assert CJK.search(zh._repr_html_()) and "lang='zh'" in zh._repr_html_()
    results = zh.to_json()
    assert [t["name"] for t in results["tests"]] == [r.title for r in zh.results]
    assert [t["score"] for t in results["tests"]] == [t["score"] for t in en.to_json()["tests"]]


@pytest.mark.parametrize("exercise", ["01-cli-sti", "04-cpuid", "08-hypercall"])
def test_a_reference_solution_scores_the_same_in_chinese(exercise):
    solution = SOLUTIONS / f"{EXERCISES[exercise]}.py"
    en, zh = grade(exercise, solution, lang="en"), grade(exercise, solution, lang="zh")
    assert zh.score == zh.max_score > 0
    _same_but_chinese(en, zh)
    assert "[通过]" in str(zh) and "沙箱：" in str(zh)


CHINESE_WRONG = [w for w in WRONG if (w[0], w[1]) in {
    ("01-cli-sti", "forgets to advance EIP"), ("02-hlt", "raises"),
    ("03-serial", "wrong operand size"), ("04-cpuid", "leaves VMX visible"),
    ("09-ept", "maps a frame number")}]


@pytest.mark.parametrize("exercise,mistake,old,new,feedback", CHINESE_WRONG,
                         ids=[f"{w[0]}:{w[1]}" for w in CHINESE_WRONG])
def test_a_wrong_solution_loses_the_same_points_with_chinese_feedback(
        tmp_path, exercise, mistake, old, new, feedback):
    path = _file(tmp_path, _variant(exercise, old, new))
    en, zh = grade(exercise, path, lang="en"), grade(exercise, path, lang="zh")
    assert zh.score < zh.max_score and feedback in str(en)
    _same_but_chinese(en, zh)
    assert "[未通过]" in str(zh)


def test_what_a_check_says_when_it_fails_is_chinese(tmp_path):
    """Each kind of failure, said in Chinese: a console line, a count of exits, what the
    console lacks, and a guest stopped by a handler's error (the machine's own message stays
    English; its kind is said in Chinese beside it)."""
    path = SOLUTIONS / "s03_serial.py"
    wrong = path.read_text().replace('REG = {1: "al", 2: "ax", 4: "eax"}',
                                     'REG = {1: "eax", 2: "eax", 4: "eax"}')
    folder = tmp_path
    text = str(grade("03-serial", _write(folder, "s03_wrong_zh.py", wrong), lang="zh"))
    assert re.search(r"控制台第 \d+ 行：应为 '.*'，实际为 '.*'", text), text
    cpuid = (SOLUTIONS / "s04_cpuid.py").read_text().replace("(ecx & ~(1 << 5)) | (1 << 31)",
                                                              "ecx | (1 << 31)")
    text = str(grade("04-cpuid", _write(folder, "s04_wrong_zh.py", cpuid), lang="zh"))
    assert "控制台应当包含 'VMX: 0 hypervisor: 1'；它的结尾是" in text
    hlt = (SOLUTIONS / "s02_hlt.py").read_text().replace("    vcpu.halt()", "    pass")
    text = str(grade("02-hlt", _write(folder, "s02_wrong_zh.py", hlt), lang="zh"))
    assert re.search(r"应有 \d+ 次 HLT 退出，实际 \d+ 次", text), text
    skip = (SOLUTIONS / "s01_cli_sti.py").read_text().replace(
        "    vcpu.virt.IF = False\n    vcpu.skip()", "    vcpu.virt.IF = False")
    text = str(grade("01-cli-sti", _write(folder, "s01_wrong_zh.py", skip), lang="zh"))
    assert "客户机应当运行到结束（退出码 0）；实际停止于：HandlerError（处理函数出错）：" in text
    assert "must advance past 'cli'" in text  # (vlab.monitor's own words)


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_the_sandbox_s_own_words_are_chinese_too(tmp_path):
    """What the sandbox says of a submission that does not load, raises, or asks for what the
    exercise does not allow."""
    broken = _file(tmp_path, "def handle_cli(vcpu, exit):\n    pass\n")
    text = str(grade("01-cli-sti", broken, lang="zh"))
    assert "你的文件没有定义函数 handle_sti" in text and "问题：" in text
    raising = _file(tmp_path, "def handle_cli(vcpu, exit):\n    raise ValueError('oops')\n"
                              "handle_sti = handle_cli\n")
    assert re.search(r"handle_(cli|sti) 抛出了 ValueError: oops",
                     str(grade("01-cli-sti", raising, lang="zh")))
    asking = _file(tmp_path, "def handle_cli(vcpu, exit):\n    vcpu.port_write(0x80, 1, 0)\n"
                             "handle_sti = handle_cli\n")
    text = str(grade("01-cli-sti", asking, lang="zh"))
    assert "'port_write' 不属于本练习：这里的处理函数可以使用" in text


def test_an_assembly_exercise_speaks_chinese_and_scores_the_same():
    solution = SOLUTIONS / "s11_hypervisor.S"
    zh = grade("11-hypervisor", solution, lang="zh")
    assert zh.score == zh.max_score == 28
    text = str(zh)
    assert "[通过] 运行以退出码 0x0 结束（+1）" in text
    assert "[通过] 控制台与 kernel 原生运行时的控制台逐字节相同（+3）" in text
    assert not any(phrase in _unquoted(text) for phrase in ENGLISH), text


def test_check_from_a_notebook_in_chinese():
    from tests.solutions.s01_cli_sti import handle_cli, handle_sti

    report = check("01-cli-sti", handle_cli, handle_sti, lang="zh")
    assert report.score == report.max_score and report.language == "zh"
    assert "[通过] 客户机运行到结束（+2）" in str(report)
    vlab.set_language("zh")  # no lang: the lab's language
    assert check("01-cli-sti", handle_cli, handle_sti).language == "zh"
    assert check("01-cli-sti", handle_cli, handle_sti, lang="en").language == "en"


def _vlab(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "vlab", *args], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **(env or {})})


def test_vlab_grade_lang_zh_through_the_command_line(tmp_path):
    results = tmp_path / "results.json"
    zh = _vlab("grade", "exercises/01-cli-sti", str(SOLUTIONS / "s01_cli_sti.py"), "--lang", "zh",
               "--results", str(results))
    assert zh.returncode == 0, zh.stderr
    assert zh.stdout.startswith("01-cli-sti：13 / 13")
    assert "内核启动、空闲并输出报告（公开）：6 / 6" in zh.stdout
    assert "[通过] 客户机运行到结束（+2）" in zh.stdout and "[pass]" not in zh.stdout
    data = json.loads(results.read_text())
    assert data["score"] == 13 and data["tests"][0]["name"] == "内核启动、空闲并输出报告"
    assert "[通过]" in data["tests"][0]["output"]
    en = _vlab("grade", "exercises/01-cli-sti", str(SOLUTIONS / "s01_cli_sti.py"))
    assert en.returncode == 0 and "[pass] the guest runs to its end (+2)" in en.stdout
    env = _vlab("grade", "exercises/01-cli-sti", str(SOLUTIONS / "s01_cli_sti.py"),
                env={"VLAB_LANG": "zh"})  # the default: $VLAB_LANG
    assert "[通过]" in env.stdout
    missing = _vlab("grade", "exercises/01-cli-sti", str(tmp_path / "nothing.py"), "--lang", "zh")
    assert missing.returncode == 2 and "vlab：找不到提交" in missing.stderr
    bad = _vlab("grade", "exercises/01-cli-sti", "x.py", "--lang", "fr")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_a_class_graded_in_chinese_keeps_its_csv_columns(tmp_path):
    """The CSV's columns are the scenarios' own names (a spreadsheet's keys, the same in every
    language); each student's results.json speaks Chinese."""
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "ada.py").write_text((SOLUTIONS / "s02_hlt.py").read_text())
    (subs / "notes.txt").write_text("not a submission")
    out = _vlab("grade", "exercises/02-hlt", str(subs), "--out", str(tmp_path / "out"),
                "--lang", "zh")
    assert out.returncode == 0, out.stderr
    rows = (tmp_path / "out" / "summary.csv").read_text().splitlines()
    assert rows[0].startswith("student,the kernel idles with HLT")
    assert "notes.txt" in rows[-1] and "已跳过：" in rows[-1]
    ada = json.loads((tmp_path / "out" / "ada.json").read_text())
    assert ada["tests"][0]["name"] == "内核用 HLT 空闲等待" and ada["score"] == ada["max_score"]
