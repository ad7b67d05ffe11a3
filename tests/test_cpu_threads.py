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


def test_command_line_sets_it_before_torch_loads():
    # a fresh interpreter, as the console script starts: torch must not be loaded before the policy is set
    code = ("import os, sys\nfrom videogan import cli\nimport videogan.cpu_threads as ct\nseen = []\n"
            "real = ct.apply_wait_policy\n"
            "cli.apply_wait_policy = lambda: seen.append('torch' in sys.modules) or real()\n"
            "cli.main(['describe', '--preset', 'tiny'])\n"
            "print(seen, os.environ.get('GOMP_SPINCOUNT'))\n")
    env = {k: v for k, v in os.environ.items() if k not in WAIT_POLICY_VARIABLES}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1] / "src")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[False] 1000"
