"""How OpenMP's threads wait on the CPU: set when videogan is imported, before torch loads its OpenMP runtime
(no torch import here).

torch's CPU build runs its kernels on GNU OpenMP (libgomp; `torch.__config__.parallel_info()`), whose
idle threads spin before they sleep: 300,000 times by default. On a machine shared with other jobs a
spinning thread holds the core that the thread it waits for needs, and a 2-thread step becomes slower
than a 1-thread one; sleeping at once (OMP_WAIT_POLICY=PASSIVE) costs a wake-up at every kernel instead,
which the small presets' many short kernels pay thousands of times per step. A short spin (GOMP_SPINCOUNT
=1000, tens of microseconds: the gap between back-to-back kernels) keeps most of the default's speed on a
quiet machine and most of PASSIVE's on a shared one. Measured side by side on 2 cores (docs/performance.md,
"History: how the OpenMP wait policy was chosen"), videos/s of the `demo` preset's step: quiet 156 passive / 195
short spin / 223 default; with a competing job 105 / 83 / 47. The paper preset: quiet 3.86 / 3.79 / 4.00,
with the job 1.88 / 1.75 / 1.38.
"""
from __future__ import annotations

import os
import sys
import warnings

# a user who sets any of these chose a wait policy themselves; we leave it alone
WAIT_POLICY_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
SPIN_COUNT = "1000"  # libgomp's busy-wait iterations before a waiting thread sleeps
TORCH_FIRST = ("torch was imported before videogan, so OpenMP keeps its default long spin, which made training "
               "2-10x slower on a busy CPU: import videogan before torch, or set GOMP_SPINCOUNT=1000 (or "
               "OMP_WAIT_POLICY=PASSIVE on a shared machine) in the environment before Python starts")


def apply_wait_policy(environ=None) -> bool:
    """Make OpenMP threads spin briefly, then sleep, while they wait (GOMP_SPINCOUNT=SPIN_COUNT) unless the
    environment already chose a policy. libgomp reads its environment once, when torch loads it, so call
    this before torch is imported; the variable is also inherited by data-loader workers and child
    processes. Returns whether it set the policy."""
    environ = os.environ if environ is None else environ
    if any(name in environ for name in WAIT_POLICY_VARIABLES):
        return False
    if "torch" in sys.modules and environ is os.environ:
        raise RuntimeError("apply_wait_policy() must run before torch is imported (OpenMP reads it at load)")
    environ["GOMP_SPINCOUNT"] = SPIN_COUNT
    return True


def apply_wait_policy_on_import() -> None:
    """videogan/__init__.py's step, so that the Python API trains as fast as the `videogan` command: set the
    policy if torch is not loaded yet; if it is, and the user chose no policy, warn (once: a package's
    __init__ runs once per process) with what to set."""
    if "torch" not in sys.modules:
        apply_wait_policy()
    elif not any(name in os.environ for name in WAIT_POLICY_VARIABLES):
        warnings.warn(TORCH_FIRST, RuntimeWarning, stacklevel=2)
