"""How OpenMP's threads wait on the CPU: set before torch loads its OpenMP runtime (no torch import here).

torch's CPU build runs its kernels on GNU OpenMP (libgomp; `torch.__config__.parallel_info()`), whose
threads by default spin at every barrier before they sleep. On a machine shared with other jobs, a
spinning thread holds the core that the thread it waits for needs, and a 2-thread step becomes slower
than a 1-thread one. OMP_WAIT_POLICY=PASSIVE makes a waiting thread sleep at once: on 2 shared cores
(load average 9-11) the paper preset's output-head ConvTranspose3d forward + backward took 4.1 s with
the default spin and 0.85-1.5 s passive (docs/performance.md has the whole-step figures).
"""
from __future__ import annotations

import os
import sys

# a user who sets any of these chose a wait policy themselves; we leave it alone
WAIT_POLICY_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")


def apply_wait_policy(environ=None) -> bool:
    """Make OpenMP threads sleep while they wait (OMP_WAIT_POLICY=PASSIVE) unless the environment already
    chose a policy. libgomp reads its environment once, when torch loads it, so call this before torch is
    imported; the variable is also inherited by data-loader workers and child processes. Returns whether
    it set the policy."""
    environ = os.environ if environ is None else environ
    if any(name in environ for name in WAIT_POLICY_VARIABLES):
        return False
    if "torch" in sys.modules and environ is os.environ:
        raise RuntimeError("apply_wait_policy() must run before torch is imported (OpenMP reads it at load)")
    environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True
