#!/bin/sh
# A stand-in for QEMU and the guest's /init (harness/live/guest/init) in unit tests: it prints
# the boot markers and runs the same read-eval loop, with shell functions in place of the guest's
# dmesg, modprobe and poweroff. Its console lines end in \r\n as a serial port's do.
# FAKE_GUEST_MODE: normal, silent (never boots), die-at-init (exits after the kernel banner).
mode=${FAKE_GUEST_MODE:-normal}
say() { printf '%s\r\n' "$*"; }
[ "$mode" = silent ] && exec sleep 60
say "[    0.000000] Linux version 6.1.0-fake (fake@guest) #1 SMP"
say "[    0.512345] Run /init as init process"
[ "$mode" = die-at-init ] && { echo "qemu-system-x86_64: fake: guest died" >&2; exit 1; }
say "@@VFL-INIT 6.1.0-fake"
dmesg() {
    printf '%s\n' \
        "[    0.000000] Linux version 6.1.0-fake (fake@guest) #1 SMP" \
        "[    1.250000] ahci 0000:00:01.0: AHCI 0001.0000 32 slots 6 ports 1.5 Gbps 0x3f impl SATA mode" \
        "[    2.000000] vfiolab-live: steps begin" \
        "[    2.500000] pci 0000:01:00.0: not ready 1023ms after bus reset; waiting" \
        "    continued line"
}
modprobe() { [ "$1" = -a ] && shift; for m in "$@"; do [ "$m" = missing ] && { echo "modprobe: module $m not found" >&2; return 1; }; done; return 0; }
kernel_says() { printf '[    3.%06d] %s\r\n' 1 "$*"; }
poweroff() { exit 0; }
say "@@VFL-READY"
while IFS= read -r line; do
    eval "$line"
done
