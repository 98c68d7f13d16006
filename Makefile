# The two commands: `make demo` (a campaign end to end on a local stack) and `make test` (the whole suite).
# Each installs what it needs (deploy/local/setup.sh) and starts Kafka and Redis (deploy/local/stack.sh).
.PHONY: setup stack stop demo test lint proto bench

setup:
	deploy/local/setup.sh

stack: setup
	deploy/local/stack.sh start

stop:
	deploy/local/stack.sh stop

# The demo needs no Kubernetes tooling: its setup skips building buf, kustomize and kubeconform.
demo:
	deploy/local/setup.sh demo
	deploy/local/stack.sh start
	.venv/bin/python deploy/local/demo.py

test: stack
	.venv/bin/pytest -q -p no:cacheprovider

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy lib/obzvon/src services tools/phonesim tools/devstack tools/train_intent_head.py

proto: setup
	tools/genproto.sh

bench: stack
	for b in bench/*.py; do .venv/bin/python $$b; done
