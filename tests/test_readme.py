"""The README's results table is exactly what scripts/results_table.py makes from reports/*.json."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_results_table_matches_the_reports():
    result = subprocess.run(
        [sys.executable, "scripts/results_table.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
