"""The OpenMP wait policy the `videogan` command sets before torch loads (videogan/cpu_threads.py)."""
import os
import subprocess
import sys
from pathlib import Path

from videogan.cpu_threads import WAIT_POLICY_VARIABLES, apply_wait_policy


def test_sets_a_short_spin_unless_the_user_chose_a_policy():
    env = {"PATH": "/bin"}
    assert apply_wait_policy(env) is True
    assert env == {"PATH": "/bin", "GOMP_SPINCOUNT": "1000"}
    for name in WAIT_POLICY_VARIABLES:
        chosen = {name: "7"}
        assert apply_wait_policy(chosen) is False
        assert chosen == {name: "7"}


def _fresh_python(code: str, **environ: str) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter whose environment chose no wait policy (plus `environ`), with this
    checkout's videogan; warnings are shown every time they are issued, so a second one would be seen."""
    env = {k: v for k, v in os.environ.items() if k not in WAIT_POLICY_VARIABLES}
    env.update(PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"), PYTHONWARNINGS="always", **environ)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)


def test_importing_videogan_first_sets_it_before_torch_loads():
    # the Python API: `import videogan` (any submodule) before torch sets the policy that torch then reads
    out = _fresh_python("import os, sys\nimport videogan.config\nloaded = 'torch' in sys.modules\n"
                        "import torch, videogan.train.gan\nprint(loaded, os.environ.get('GOMP_SPINCOUNT'))")
    assert out.stdout.split() == ["False", "1000"]
    assert out.stderr == ""


def test_command_line_sets_it_before_torch_loads():
    out = _fresh_python("import os\nfrom videogan import cli\ncli.main(['describe', '--preset', 'tiny'])\n"
                        "print(os.environ.get('GOMP_SPINCOUNT'))")
    assert out.stdout.strip().splitlines()[-1] == "1000"
    assert "RuntimeWarning" not in out.stderr


def test_torch_first_warns_once_with_what_to_set():
    out = _fresh_python("import os, torch\nimport videogan\nimport videogan.config, videogan.cli\n"
                        "print(os.environ.get('GOMP_SPINCOUNT'))")
    assert out.stdout.split() == ["None"]  # too late to set: libgomp has read its environment
    assert out.stderr.count("RuntimeWarning: torch was imported before videogan") == 1
    assert "GOMP_SPINCOUNT=1000" in out.stderr and "OMP_WAIT_POLICY=PASSIVE" in out.stderr


def test_torch_first_is_quiet_when_the_user_chose_a_policy():
    for name, value in zip(WAIT_POLICY_VARIABLES, ("PASSIVE", "7", "7")):
        out = _fresh_python("import os, torch\nimport videogan.config\nprint(os.environ.get('GOMP_SPINCOUNT'))",
                            **{name: value})
        assert out.stderr == ""
        assert out.stdout.split() == ["7" if name == "GOMP_SPINCOUNT" else "None"]
