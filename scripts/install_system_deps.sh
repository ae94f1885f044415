#!/usr/bin/env bash
# Install the Debian/Ubuntu system packages that Flawmap's tooling and tests
# rely on, but only those whose command is actually missing.
#
#   scripts/install_system_deps.sh
#
# - Idempotent and silent when everything is already present.
# - Uses apt-get non-interactively; runs `apt-get update` only if the first
#   install attempt fails (e.g. empty/stale package lists).
# - Not root: uses sudo when available. Without root/sudo (or without
#   apt-get) it explains what is missing on stderr and exits 0, so callers
#   such as CI bootstrap steps do not fail; the tests that need a missing
#   tool skip themselves with a reason pointing back at this script.
set -euo pipefail

# One entry per required command: "<command> <debian-package>".
# Add further system dependencies here (one line each).
DEPS=(
  "docker-compose docker-compose"
  "g++ g++"
  "chromium chromium"
  "chromedriver chromium-driver"
)

log() { printf 'install_system_deps: %s\n' "$*" >&2; }

missing_pkgs=()
missing_cmds=()
for entry in "${DEPS[@]}"; do
  read -r cmd pkg <<<"$entry"
  if ! command -v "$cmd" >/dev/null 2>&1; then
    missing_cmds+=("$cmd")
    missing_pkgs+=("$pkg")
  fi
done

# Nothing to do: stay quiet.
if [ "${#missing_pkgs[@]}" -eq 0 ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  log "missing command(s): ${missing_cmds[*]}; apt-get not found, please install" \
      "package(s) manually: ${missing_pkgs[*]}"
  exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    log "missing command(s): ${missing_cmds[*]}; not running as root and sudo" \
        "is not available. Install as root: apt-get install ${missing_pkgs[*]}"
    exit 0
  fi
  if [ -t 0 ]; then
    SUDO=(sudo)
  elif sudo -n true >/dev/null 2>&1; then
    SUDO=(sudo -n)
  else
    log "missing command(s): ${missing_cmds[*]}; sudo needs a password and no" \
        "terminal is attached. Run: sudo apt-get install ${missing_pkgs[*]}"
    exit 0
  fi
fi

apt_install() {
  ${SUDO[@]+"${SUDO[@]}"} env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}"
}

out="$(mktemp)"
trap 'rm -f "$out"' EXIT

log "installing: ${missing_pkgs[*]}"
if ! apt_install >"$out" 2>&1; then
  # Package lists may be missing or stale: refresh once and retry.
  if ! ${SUDO[@]+"${SUDO[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$out" 2>&1 \
     || ! apt_install >"$out" 2>&1; then
    cat "$out" >&2
    log "failed to install: ${missing_pkgs[*]}"
    exit 1
  fi
fi

for cmd in "${missing_cmds[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    log "package installed but command '$cmd' is still not on PATH"
    exit 1
  fi
done
log "done"
