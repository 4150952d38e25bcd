"""The package's public names are the API's verbs and types, whatever has been imported:
three verbs share their name with a module (`plan`, `journal`, `restore`)."""

from __future__ import annotations

import subprocess
import sys


def test_the_verbs_stay_verbs_after_their_modules_are_imported():
    code = (
        "import safeguard, safeguard.cli, safeguard.plan, safeguard.journal, safeguard.restore\n"
        "from safeguard import api\n"
        "from safeguard.plan import Plan\n"
        "assert safeguard.plan is api.plan, safeguard.plan\n"
        "assert safeguard.journal is api.journal, safeguard.journal\n"
        "assert safeguard.restore is api.restore, safeguard.restore\n"
        "assert safeguard.Plan is Plan\n"
        "assert sorted(n for n in safeguard.__all__ if not hasattr(safeguard, n)) == []\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
