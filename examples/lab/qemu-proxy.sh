#!/bin/sh
# The QEMU binary of qemu-env.yaml (labgrid's QEMUDriver runs it with its own arguments and
# passes no file descriptors): QEMU started through vfiolab's proxy (python -m
# harness.live.proxy), which serves the ASM1062 model as the x-pci-proxy-dev with
# fd=proxy:sata0 and adds the shared memfd RAM the proxy needs. The Python is the one on PATH
# (a tox environment's, or VFIOLAB_PYTHON), with vfiolab installed.
QEMU=qemu-system-x86_64
# QEMUDriver asks for the version first: no devices to serve then.
case "${1:-}" in
-version | --version) exec "$QEMU" "$@" ;;
esac
exec "${VFIOLAB_PYTHON:-python3}" -m harness.live.proxy \
    --device sata0=asmedia-asm1062,behaviour=link_dead_after_bus_reset \
    --memfd-ram 512M -- "$QEMU" "$@"
