"""How tests start Python subprocesses. A child must import the granite_native under test: the
installed one in CI, the in-place build in a checkout. A child started in the source tree's
root would import the unbuilt sources instead, so children run in a neutral directory with the
tested package's parent first on PYTHONPATH."""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import granite_native

PACKAGE_PARENT = str(Path(granite_native.__file__).resolve().parents[1])


def run_python(args, env=None, **kwargs):
    """subprocess.run([python, *args]) with the tested package importable; text output."""
    child_env = dict(os.environ, **(env or {}))
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (PACKAGE_PARENT, os.environ.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, *map(str, args)], env=child_env,
                          cwd=tempfile.gettempdir(), capture_output=True, text=True, **kwargs)
