# The two commands of the README. Everything else is in scripts/.
.PHONY: demo test bench
demo:
	@bash scripts/setup.sh
	.venv/bin/python app/main.py $(ARGS)

test:
	@bash scripts/test.sh

bench:
	@bash scripts/setup.sh
	.venv/bin/python -m benchmarks.pipeline $(ARGS)
