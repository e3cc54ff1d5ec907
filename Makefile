# Two commands a new user needs:
#   make demo   set up (ffmpeg, venv, package) and render the offline demo storyboard
#   make test   set up everything (test, bench and local-model extras) and run the whole suite
VENV := .venv
BIN := $(VENV)/bin
DEMO := storyboards/demo/demo.yaml

.PHONY: demo test setup setup-test bench clean help

help:
	@echo "make demo   render the offline demo (sets everything up first)"
	@echo "make test   run the whole test suite (sets everything up first)"
	@echo "make bench  run the benchmarks (quick mode)"

setup:
	@scripts/setup.sh core

setup-test:
	@scripts/setup.sh test

demo: setup
	$(BIN)/reelmake validate $(DEMO)
	$(BIN)/reelmake plan $(DEMO)
	$(BIN)/reelmake render $(DEMO)
	@echo
	@echo "Your video: out/demo/master.mp4 (and out/demo/vertical.mp4). Play it with any video player."

test: setup-test
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q

bench: setup-test
	$(BIN)/python bench/run_all.py --quick

clean:
	rm -rf out .reelmake storyboards/*/*.lock.tmp
