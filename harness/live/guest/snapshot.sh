#!/bin/sh
# vfiolab live guest: print a tar.gz of the guest's PCI sysfs as base64 between markers.
# The mirror keeps the kernel's layout (symlinks as symlinks, with their relative targets), so
# the host's lspci reads it: lspci -A linux-sysfs -O sysfs.path=DIR/sys/bus/pci. Files that
# act when read (resource*: port I/O; rom; vpd) and write-only ones are left out.
# One cp per directory, built in tmpfs: fork and exec are slow under TCG, shell loops are not.
out=/tmp/vfl-snapshot
rm -rf "$out"
copy_dir() {
    local src="$1" entry
    mkdir -p "$out$src"
    set --
    for entry in "$src"/*; do
        case "${entry##*/}" in
            resource*|rom|vpd|remove|rescan|reset|reset_subordinate|new_id|remove_id|bind|unbind|uevent|subsystem|firmware_node) continue ;;
            power|msi_irqs|link) [ -d "$entry" ] && [ ! -L "$entry" ] && copy_dir "$entry" && continue ;;
        esac
        [ -d "$entry" ] && [ ! -L "$entry" ] && continue
        set -- "$@" "$entry"
    done
    [ $# -gt 0 ] && cp -d "$@" "$out$src/" 2>/dev/null
    return 0
}
for device in /sys/bus/pci/devices/*; do
    copy_dir "$(readlink -f "$device")"
done
mkdir -p "$out/sys/bus/pci/devices" "$out/sys/bus/pci/drivers" "$out/sys/kernel/iommu_groups"
cp -d /sys/bus/pci/devices/* "$out/sys/bus/pci/devices/"
for driver in /sys/bus/pci/drivers/*; do mkdir -p "$out$driver"; done
for group in /sys/kernel/iommu_groups/*; do
    [ -d "$group" ] || continue
    mkdir -p "$out$group/devices"
    cp -d "$group"/devices/* "$out$group/devices/" 2>/dev/null
done
echo "@@VFL-SNAPSHOT-BEGIN"
tar -C "$out" -czf - sys | base64
echo "@@VFL-SNAPSHOT-END"
rm -rf "$out"
