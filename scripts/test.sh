#!/usr/bin/env bash
# The whole test suite: installs what it needs, lints, type-checks, runs pytest.
# Services (redis-server, the native Kafka/Spark/S3 cluster, …) are started and stopped by the
# test fixtures themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-packages.sh
bash scripts/setup.sh requirements-dev.txt
.venv/bin/python -m cluster jars  # Kafka and Spark jars from Maven Central (mvn), cached in .cache/jars
echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
    exit 1
fi
exit $rc
