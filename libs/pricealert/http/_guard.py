"""The address check at connect time, and what aiohttp needs of us to make it hold.

aiohttp resolves a name once (through `GuardedResolver`, which refuses the
name if any answer is refused) and connects to those answers itself, with no
second lookup; IP-literal URLs never reach a resolver at all. So the last word
is `guarded_socket`, aiohttp's `socket_factory`: it sees the exact address about
to be connected, every Happy Eyeballs attempt included, and refuses it unless
the request's host is exempt (`PRICEALERT_FETCH_ALLOWED_HOSTS`).

Which request a socket belongs to travels in a context variable (`Hop`) set
around each hop: aiohttp opens connections in the requesting task (or in tasks
it starts from it, which copy the context), so the factory knows the hop's
exemption and can report a refusal back to it. The address a response came
from is its connection's (`GuardedHandler.peer_address`).

These hooks are aiohttp's private ones (`TCPConnector._factory`;
`ResponseHandler.is_connected`, `_reschedule_timeout`, `_drop_timeout`;
`ClientResponse._protocol`, read in the client), hence the `<3.15` pin;
tests/http exercises each of them.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import socket
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast

import aiohttp
from aiohappyeyeballs import AddrInfoType
from aiohttp.client_proto import ResponseHandler

from pricealert.http._addresses import blocked_reason, parse_ip_literal


@dataclass(slots=True)
class Hop:
    """One request to one URL, as the connection layer saw it."""

    exempt: bool  #: the host[:port] is on the allow list: no address check
    connecting: bool = False  #: a new connection was attempted (else: waited for the pool)
    refused: str | None = None  #: why an address was refused at connect time


CURRENT_HOP: ContextVar[Hop | None] = ContextVar("pricealert_http_hop", default=None)


class AddressRefused(OSError):
    """Raised by the socket factory: aiohttp treats it as a failed connection attempt."""


def guarded_socket(addr_info: AddrInfoType) -> socket.socket:
    """aiohttp's `socket_factory`: a socket only for an address the policy allows."""
    family, type_, proto, _canonname, sockaddr = addr_info
    hop = CURRENT_HOP.get()
    if hop is not None:
        hop.connecting = True
    if hop is None or not hop.exempt:  # no hop: not our request, so no exemption either
        host = str(sockaddr[0])
        address = parse_ip_literal(host.partition("%")[0])
        reason = "not an IP address" if address is None else blocked_reason(address)
        if reason is not None:
            if hop is not None:
                hop.refused = f"{host}: {reason}"
            raise AddressRefused(errno.EACCES, f"{host} is refused: {reason}")
    return socket.socket(family, type_, proto)


class GuardedConnector(aiohttp.TCPConnector):
    """aiohttp's connector, making `GuardedHandler`s (see it for what they add)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        handler = functools.partial(GuardedHandler, loop=self._loop)
        self._factory = cast("functools.partial[ResponseHandler]", handler)


class GuardedHandler(ResponseHandler):
    """aiohttp's protocol: knows its peer, never reused with anything on it, cheap read timer.

    aiohttp keeps parsing on an idle pooled connection, so a response the server
    sent unasked would be read as the answer to the next request on it (aiohttp
    checks only that the connection is open). Here a connection with anything
    pending (`should_close`: unread bytes, an unfinished or failed response) does
    not count as connected, so the pool closes it instead of handing it out. The
    check sits in `is_connected`, which the pool already calls on each connection
    it considers (`TCPConnector._get`, its idle cleanup), rather than in an override
    of `_get`: one coroutine frame fewer per request. aiohttp asks `is_connected`
    nowhere else (3.14), so an open connection mid-response is not affected.

    aiohttp cancels and re-arms its `sock_read` timer on every network read, and
    arms a new one for every response. Here a read only notes the time; the one
    timer of a connection, when it fires early, re-arms itself for what is left,
    and outlives a response when the next one reuses the connection. Fewer timers
    also keep the event loop's timer heap small, which every other timer pays for.
    """

    peer_address = ""
    _reading = False  #: a read deadline applies (a response is awaited and not paused)
    _last_read = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        self.peer_address = str(peer[0]) if peer else ""

    def is_connected(self) -> bool:
        return super().is_connected() and not self.should_close

    def _reschedule_timeout(self) -> None:
        timeout = self._read_timeout
        if not timeout:
            self._reading = False
            return
        loop = self._loop
        self._reading = True
        self._last_read = now = loop.time()
        handle = self._read_timeout_handle
        if handle is not None and handle.when() > now + timeout:  # armed for a longer one
            handle.cancel()
            handle = None
        if handle is None:
            self._read_timeout_handle = loop.call_at(now + timeout, self._check_read_timeout)

    def _drop_timeout(self) -> None:
        self._reading = False  # the timer stays armed; it finds nothing to do and stops

    def _check_read_timeout(self) -> None:
        self._read_timeout_handle = None
        timeout = self._read_timeout
        if not (self._reading and timeout and self.transport is not None):
            return
        deadline = self._last_read + timeout
        if self._loop.time() + 0.001 >= deadline:
            self._reading = False
            self._on_read_timeout()
        else:
            self._read_timeout_handle = self._loop.call_at(deadline, self._check_read_timeout)
