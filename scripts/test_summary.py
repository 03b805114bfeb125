#!/usr/bin/env python3
"""Prints what the test command skipped and why, and one closing line for C++ and Python together.

Usage: test_summary.py CTEST_OUTPUT LASTTEST_LOG [PYTEST_OUTPUT]
CTEST_OUTPUT: what `ctest` printed; LASTTEST_LOG: ctest's Testing/Temporary/LastTest.log (the output of
every test, where GoogleTest's skip messages are); PYTEST_OUTPUT: what `pytest -rs` printed.
"""
import re
import sys


def ctest_counts(text):
    m = re.search(r"(\d+)% tests passed, (\d+) tests? failed out of (\d+)", text)
    if not m:
        return 0, 0, []
    failed, total = int(m.group(2)), int(m.group(3))
    skipped = re.findall(r"^\s*\d+ - (\S+) \(Skipped\)", text, re.M)
    return total - failed - len(skipped), failed, skipped


def skip_reasons(lasttest):
    """test name -> the first GoogleTest skip message (or a skip code) in its output."""
    reasons = {}
    for block in re.split(r"^-{20,}\n", lasttest, flags=re.M):
        name = re.search(r'^\d+/\d+ Test: (\S+)', block, re.M)
        if not name:
            continue
        why = re.search(r"^.*Skipped\s*\n(.+)$", block, re.M) or re.search(r"\[  SKIPPED \] ?(.*)$", block, re.M)
        if why:
            reasons[name.group(1)] = why.group(1).strip()
    return reasons


def main():
    ctest_out = open(sys.argv[1], errors="replace").read()
    try:
        lasttest = open(sys.argv[2], errors="replace").read()
    except OSError:
        lasttest = ""
    passed, failed, skipped = ctest_counts(ctest_out)
    reasons = skip_reasons(lasttest)
    py_passed = py_failed = py_skipped = 0
    py_reasons = []
    if len(sys.argv) > 3:
        py = open(sys.argv[3], errors="replace").read()
        for n, what in re.findall(r"(\d+) (passed|failed|skipped|error|errors)", py.splitlines()[-1] if py else ""):
            if what == "passed":
                py_passed = int(n)
            elif what == "skipped":
                py_skipped = int(n)
            else:
                py_failed += int(n)
        py_reasons = re.findall(r"^SKIPPED \[\d+\] (.+)$", py, re.M)
    if skipped or py_reasons:
        print(f"skipped: {len(skipped)} C++ test(s), {py_skipped} Python test(s):")
        for t in skipped:
            print(f"  {t}: {reasons.get(t, 'see its output in Testing/Temporary/LastTest.log')}")
        for r in py_reasons:
            print(f"  python {r}")
    print(f"tests: {passed + py_passed} passed, {failed + py_failed} failed, {len(skipped) + py_skipped} skipped")


if __name__ == "__main__":
    main()
