"""The repository README's Python blocks run, and print what the README says they print."""
import contextlib
import io
import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_python_blocks_run_and_print_what_they_say():
    blocks = python_blocks()
    assert blocks, "the README has no Python block"
    for block in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(README), "exec"), {})
        # Each `print(...)  # EXPECTED` line's comment is the start of what it printed.
        expected = [c.split("…")[0].strip() for c in re.findall(r"print\(.*\)\s+# (.*)", block)]
        printed = out.getvalue().splitlines()
        assert len(printed) == len(expected)
        for got, want in zip(printed, expected):
            assert got.startswith(want), (got, want)
