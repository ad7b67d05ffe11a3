"""videogan: Generating Videos with Scene Dynamics (Vondrick, Pirsiavash, Torralba, NIPS 2016) in PyTorch."""
__version__ = "0.1.0"
