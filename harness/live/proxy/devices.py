"""The proxied devices of one guest: a server per ``x-pci-proxy-dev`` of the guest's spec, the
descriptors QEMU inherits, and their reports.

:class:`ProxiedDevices` is what :func:`harness.live.runner.run_live` uses::

    with ProxiedDevices(spec.proxies) as proxied:
        launch = build_launch(spec, assets, workdir, proxy_fds=proxied.fds)
        session = GuestSession(launch, workdir, pass_fds=proxied.pass_fds)
        session.start()
        proxied.started()          # QEMU holds its ends now
        ...
    proxied.failure                # a service that ended early, in one line ("" when none)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.live.proxy.served import ServedDevice
from harness.live.proxy.server import DEFAULT_WATCHDOG, ProxyServer
from harness.live.spec import Device


class ProxiedDevices:
    """Servers for ``devices`` (each with a :class:`~harness.live.spec.Proxy`)."""

    def __init__(self, devices: Sequence[Device], *, watchdog: float = DEFAULT_WATCHDOG) -> None:
        self.servers: list[ProxyServer] = []
        try:
            for device in devices:
                assert device.proxy is not None
                self.servers.append(ProxyServer(device.id, ServedDevice(device.proxy), watchdog=watchdog))
        except BaseException:
            self.close()
            raise

    @property
    def fds(self) -> dict[str, int]:
        """QEMU's socket descriptor for each device id."""
        return {server.name: server.qemu_fd for server in self.servers}

    @property
    def pass_fds(self) -> tuple[int, ...]:
        return tuple(server.qemu_fd for server in self.servers)

    def start(self) -> ProxiedDevices:
        for server in self.servers:
            server.start()
        return self

    def started(self) -> None:
        """QEMU runs with its copies of the descriptors: close ours, so its exit ends the service."""
        for server in self.servers:
            server.release_qemu_end()

    @property
    def failure(self) -> str:
        """The first service that ended on its own (watchdog, protocol error), in one line."""
        return next((f"proxy {server.name}: {server.failure}" for server in self.servers if server.failure), "")

    def write_reports(self, directory: Path) -> None:
        for server in self.servers:
            server.write_report(directory / f"proxy-{server.name}.json")

    def close(self) -> None:
        for server in self.servers:
            server.close()

    def __enter__(self) -> ProxiedDevices:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
