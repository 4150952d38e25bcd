"""Which modules a fresh interpreter has loaded after running a snippet: for the tests
that keep start-up cheap (a module imported at start-up is paid by every process)."""

from __future__ import annotations

import ast
import subprocess
import sys


def loaded_after(code: str, names: tuple[str, ...]) -> list[str]:
    """The modules, among ``names`` (top-level packages or dotted prefixes ending in
    '.'), that a new ``python -c code`` has imported by its end."""
    program = (f"{code}\nimport sys\nnames = {names!r}\n"
               "print(sorted(m for m in sys.modules if m.split('.')[0] in names or m in names\n"
               "             or m.startswith(tuple(n for n in names if n.endswith('.')))))\n")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])
