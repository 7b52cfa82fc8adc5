#!/bin/sh
# Installs the Debian packages vfiolab's tests and main job need. Run as root (or with sudo).
# Prints apt's own errors and stops on the first failure.
set -eu

PACKAGES="pciutils python3-venv"

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        exec sudo "$0" "$@"
    fi
    echo "ci/install-system-packages.sh: needs root to run apt-get (no sudo found)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "apt-get update" >&2
apt-get update -q
echo "apt-get install $PACKAGES" >&2
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $PACKAGES
