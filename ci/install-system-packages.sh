#!/bin/sh
# Installs the Debian packages vfiolab's tests and main job need. Run as root (or with sudo).
# Prints apt's own errors and stops on the first failure.
set -eu

# pciutils: the real lspci judges fakesys trees. The rest judge the config generator's output and
# build libvirt-python (vfiolab[libvirt]): virt-xml-validate (libvirt-clients, with xmllint from
# libxml2-utils), libvirt's test:///default driver, qemu-system-x86_64's property parser, and
# kmod's modprobe for modprobe.d files; shellcheck and dash judge the generated apply.sh; GNU time
# measures peak memory in bench/compare.py. Live runs (tox -e live): qemu-system-x86 boots the
# guest, zstd unpacks Debian 12's 6.12 kernel image (the guest kernels and busybox-static are
# fetched with apt-get download, not installed), dpkg-deb unpacks them (dpkg, always there).
PACKAGES="pciutils time python3-venv build-essential python3-dev pkg-config libvirt-dev libvirt-clients libxml2-utils qemu-system-x86 kmod shellcheck dash zstd strace"

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
