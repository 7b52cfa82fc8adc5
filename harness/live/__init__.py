"""Live runs: a real Linux guest under QEMU, built from Debian packages, driven over its serial
console, its dmesg and sysfs asserted from scenarios.

Nothing is imported here: the VFIO client (``harness.live.vfio``) runs inside guests, where
every module read costs, and the command line imports what a subcommand needs. The modules and
what other code uses from them:

========================  =====================================================================
module                    owns (public names)
========================  =====================================================================
``assets``                guest kernels ``KERNELS`` (6.1, 6.12), ``guest_assets(kernel)`` ->
                          ``GuestAssets`` (``vmlinux``, ``initramfs``, ``loadable()``), cached
``debian``                apt: ``show``, ``resolve``, ``download``, ``unpack``
``kernelimage``           ``extract_vmlinux`` (bzImage payload: XZ, zstd, gzip)
``kmod``                  ``ModuleTree.closure``, ``modules_dep`` (busybox modprobe's format)
``cpio``, ``initramfs``   ``NewcWriter``; ``write_initramfs`` with ``guest/init`` and
                          ``guest/snapshot.sh``
``cache``                 ``cache_root()`` (``$XDG_CACHE_HOME/vfiolab/live``), ``locked(name)``
``spec``                  ``GuestSpec`` (the scenario's ``guest:`` part), ``Device``, ``Step``
``qemu``                  ``build_launch(spec, assets, workdir, extra_args=, memfd_ram=, proxy_fds=)`` ->
                          ``Launch`` (``argv``, ``quoted()``), ``prepare_disks``
``process``               ``QemuProcess`` (own process group, ``pass_fds``, killed on every
                          way out)
``accel``                 ``choose_accelerator(assets)`` (TCG unless KVM probes fine)
``console``               ``Console(read_fd, write, log_path)``: the draining reader,
                          ``expect(patterns, phase, timeout)``, ``tail()``, ``marks``
``crash``                 ``crash_on_console``, ``crash_in_message``
``session``               ``GuestSession(launch, workdir, pass_fds=)``: ``boot()``,
                          ``run(command)``, ``modprobe``, ``mount_host_root``, ``dmesg()``,
                          ``read_values(paths)``, ``snapshot(dir)``, ``poweroff()``; ``Timeouts``
``steps``                 ``step_command(step)``: guest steps as shell lines
``expect``                ``guest_dmesg``/``guest_sysfs``/step checks (shared matchers of
                          ``harness.scenario.expect``)
``runner``                ``run_live(scenario, kernel, ..., read_paths=)`` -> ``LiveResult``
                          (``pass``, ``fail``, ``infra-error``; ``report()``, artifacts,
                          ``dmesg``, ``values``, ``proxies``, ``boot_retries``)
``vfio``                  the VFIO client: ``VfioSession(address)``, ``Container``, ``Group``,
                          ``Device`` (``info``, ``region``, ``read_config``, ``reset``,
                          ``hot_reset_info``, ``hot_reset``); ``python -m harness.live.vfio``
``errors``                ``LiveError`` and its subclasses (see that module)
``compare``               the oracle: ``run_comparison(scenario, kernel)`` -> ``Comparison``
                          (``agrees``, ``disagreements()``, ``table()``) against the simulated
                          counterpart
``cli``                   ``vfiolab live assets|cmdline|run|compare``, ``scenario run --live``
========================  =====================================================================

``proxy/`` (the device server for QEMU's ``x-pci-proxy-dev``, its wrapper ``python -m
harness.live.proxy`` and the simulated counterpart of a guest; see that package) builds on
``qemu`` (``proxy_fds``, memfd RAM), ``process`` (``pass_fds``), ``session`` and ``runner``
(``run_live`` starts the servers of a guest's proxied devices itself).
"""

from __future__ import annotations
