#!/usr/bin/env bash
# Debian packages the tests need: a real redis-server (and redis-benchmark), headless
# Chromium with its driver for the browser tests (tests/e2e), and Java + Maven for the native
# cluster (Kafka and Spark run on Java 17; mvn fetches their jars from Maven Central), and
# Eclipse Mosquitto, the MQTT broker of the MQTT ingest tests (with mosquitto_pub/_sub), and
# Node.js, which runs a browser script's plain functions in the unit tests.
set -euo pipefail
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-benchmark >/dev/null || missing+=(redis-tools)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v java >/dev/null || missing+=(default-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null || missing+=(mosquitto)
command -v mosquitto_pub >/dev/null || missing+=(mosquitto-clients)
command -v node >/dev/null || missing+=(nodejs)  # runs the console's status rules in the unit tests
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
