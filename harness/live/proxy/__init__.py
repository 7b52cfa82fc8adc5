"""The device server for QEMU's ``x-pci-proxy-dev``: fakesys device models served to a real
guest kernel, the same objects the simulated kernel drives.

Nothing is imported here. The modules and what other code uses from them:

========================  =====================================================================
module                    owns (public names)
========================  =====================================================================
``protocol``              QEMU 7.2's multi-process wire format: ``Command``, ``receive``,
                          ``reply``, ``send``, ``read_reply``, ``ProtocolError``
``served``                ``served_model(model)`` (cut to what the proxy carries: 256 bytes,
                          32-bit BARs, no ROM), ``ServedDevice(proxy)`` (config, BAR, reset
                          requests on a fakesys ``Device``), ``ServingError``
``server``                ``ProxyServer(name, device, watchdog=)``: socket pair, service thread,
                          watchdog, ``stats``, ``failure``, ``write_report``
``devices``               ``ProxiedDevices(spec.proxies)``: the servers of one guest, ``fds``,
                          ``pass_fds``, ``started()``, ``failure``
``wrapper``               ``python -m harness.live.proxy``: start QEMU through the proxy (for
                          tools that cannot pass descriptors, e.g. labgrid's QEMUDriver)
``counterpart``           the simulated twin of a live guest: the same topology and device models
                          booted in fakesys's kernel, the guest steps applied to it
========================  =====================================================================
"""

from __future__ import annotations
