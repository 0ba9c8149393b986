"""Which TCP addresses a set of processes listens on, read from /proc (Linux only).

/proc/net/tcp and tcp6 list every socket of the network namespace with its inode; a process's
open sockets are the ``socket:[inode]`` links under /proc/<pid>/fd. Joining the two tells, for
the processes a test started, every address they accept connections on.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from tests.ray_processes import executable

_LISTEN = "0A"  # TCP_LISTEN in the kernel's state numbering


@dataclass(frozen=True)
class Listener:
    pid: int
    executable: str
    address: str
    port: int

    @property
    def loopback(self) -> bool:
        return ipaddress.ip_address(self.address).is_loopback


def _hex_address(field: str) -> tuple[str, int]:
    """/proc/net/tcp's ``ADDR:PORT``: the address is in the kernel's byte order, 32-bit words."""
    address_hex, port_hex = field.split(":")
    raw = bytes.fromhex(address_hex)
    # Each 32-bit word is little-endian on the machines we run on (x86_64, aarch64).
    packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(packed)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address), int(port_hex, 16)


def listening_inodes() -> dict[int, tuple[str, int]]:
    """inode -> (address, port) of every listening TCP socket in this network namespace."""
    found: dict[int, tuple[str, int]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:  # no IPv6 in this kernel
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == _LISTEN:
                found[int(fields[9])] = _hex_address(fields[1])
    return found


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    except OSError:  # the process is gone
        pass
    return inodes


def listeners_of(pids: list[int]) -> list[Listener]:
    """Every listening TCP socket owned by one of `pids`."""
    listening = listening_inodes()
    found = []
    for pid in pids:
        for inode in _socket_inodes(pid) & listening.keys():
            address, port = listening[inode]
            found.append(Listener(pid, executable(pid), address, port))
    return found
