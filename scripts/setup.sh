#!/usr/bin/env bash
# Sets up a fresh clone: Debian's text-to-speech engines for the embedded corpus and the
# PostgreSQL server the distributed-sweep tests start on loopback (each only when missing),
# a virtual environment in .venv, and the package with its dev tools.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v flite >/dev/null 2>&1 || missing+=(flite)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing ${missing[*]} with apt-get"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" </dev/null
fi

python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch==2.14.1 and torchaudio==2.11.0 are pinned in pyproject.toml.
.venv/bin/python -m pip install --quiet -e '.[dev]'
