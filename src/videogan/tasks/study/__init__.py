"""The paper's two-alternative forced-choice study (section 3.2, Table 1): a static site (make.py), a small
server that records answers (serve.py), and the tally with its exclusions (tally.py)."""
