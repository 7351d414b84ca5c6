# Two commands are all a learner or teacher needs:
#   make lab    create .venv if missing, install everything, open JupyterLab
#   make test   create .venv if missing, install, run pytest + nbval (fast mode)
# Set NO_BROWSER=1 to start JupyterLab without opening a browser (headless).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab test test-unit test-notebooks test-browser bench clean-venv reproduce student test-student book test-book

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -e .
	@touch $(STAMP)

# JupyterLab refuses to run as root (containers, CI machines) unless told to.
AS_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/ $(if $(NO_BROWSER),--no-browser,) $(AS_ROOT)

test: test-unit test-notebooks

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests

# Notebooks run top to bottom in fast mode; a failing cell fails the run.
test-notebooks: $(STAMP)
	HNET_FAST=1 $(BIN)/python -m pytest --nbval-lax --nbval-current-env notebooks

clean-venv:
	rm -rf $(VENV)

# Speed measurements (one thread; last printed line of each script is one JSON object).
# Results and how to read them: scripts/speed/README.md.
bench: $(STAMP)
	$(BIN)/python scripts/speed/train_step.py --threads 1
	$(BIN)/python scripts/speed/embedding_probe.py
	$(BIN)/python scripts/speed/cifar_step.py --threads 1

# Real-browser check of notebooks 01 and 03 (JupyterLab + headless Debian Chromium via
# Playwright): installs chromium (apt, only if missing) and Playwright first.
BROWSER_STAMP := $(VENV)/.browser-installed

$(BROWSER_STAMP): requirements-browser.txt $(STAMP)
	$(BIN)/python -m pip install --quiet -r requirements-browser.txt
	@touch $(BROWSER_STAMP)

test-browser: $(BROWSER_STAMP)
	@test -x /usr/bin/chromium || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)
	$(BIN)/python tests/browser/run_notebook_in_browser.py
	$(BIN)/python tests/browser/run_notebook_in_browser.py --notebook notebooks/03_split_mnist.ipynb

# Every run of the course's results (python -m hnet_utils.reproduce): prints the plan,
# skips runs already done, trains the rest, regenerates the tables of results/README.md.
#   make reproduce DRY_RUN=1                 the plan only (make itself eats a bare --dry-run)
#   make reproduce ARGS="--only split_mnist --seeds 0 1 2"
#   HNET_FAST=1 make reproduce ARGS="--only regression"   smoke test into a temporary folder
reproduce: $(STAMP)
	$(BIN)/python -m hnet_utils.reproduce $(if $(DRY_RUN),--dry-run,) $(ARGS)

# Student version of the notebooks (solutions replaced by `raise NotImplementedError()`,
# nbgrader's markup rules) in build/student/; needs only Python's standard library.
student:
	$(PYTHON) scripts/make_student.py --out build/student

# The student version must run top to bottom in fast mode (unsolved exercises
# fall back to the package's implementation).
test-student: student $(STAMP)
	HNET_FAST=1 $(BIN)/python -m pytest --nbval-lax --nbval-current-env build/student

# Static website of the executed course in build/book/ (index = README's course map),
# readable offline: no CDN. Full mode by default; HNET_FAST=1 make book for a quick build.
book: $(STAMP)
	$(BIN)/python scripts/build_book.py --out build/book

# Open two pages of the built book in headless Chromium; screenshots in screenshots/book/.
test-book: $(BROWSER_STAMP)
	@test -x /usr/bin/chromium || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)
	$(BIN)/python tests/browser/check_book_in_browser.py build/book
