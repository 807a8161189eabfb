#!/usr/bin/env bash
# Installs what the tests need beyond the Rust toolchain, idempotently:
# Prometheus and promtool (Debian's `prometheus` package), Alertmanager
# (`prometheus-alertmanager`), kcat, valgrind, python3-yaml and
# docker-compose (only to check deploy/compose.yaml), and curl and openssl
# (tests/web.rs makes certificates and HTTPS requests with them), and
# chromium (tests/livepage.rs renders the live page in headless Chromium).
set -euo pipefail

need=()
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v kcat >/dev/null 2>&1 || need+=(kcat)
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
# scripts/check-deploy.py: YAML parsing and the compose file's own check.
python3 -c 'import yaml' >/dev/null 2>&1 || need+=(python3-yaml)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-tools: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
command -v promtool >/dev/null
