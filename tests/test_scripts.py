"""Every script in scripts/ imports: a script that no test runs in full (a long measurement) still breaks here, not
in its user's hands, when a module it imports moves or renames what it uses."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted(path.stem for path in (ROOT / "scripts").glob("*.py"))


def test_every_script_imports():
    assert "long_run" in SCRIPTS and "training_levers" in SCRIPTS
    # one interpreter for all of them (each import of torch costs seconds); a script's own folder is on its path
    # when it runs, as here through PYTHONPATH; the __main__ guard keeps each from running
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\nprint('ok')"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "scripts"), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-c", code, *SCRIPTS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]
