"""videogan: Generating Videos with Scene Dynamics (Vondrick, Pirsiavash, Torralba, NIPS 2016) in PyTorch."""
from .cpu_threads import apply_wait_policy_on_import

__version__ = "0.1.0"

# first, before any of our modules imports torch: libgomp reads its wait policy once, when torch loads it
apply_wait_policy_on_import()
