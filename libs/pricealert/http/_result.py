"""What a request comes back with: `FetchResult`, and its `Headers`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:  # obs-text: RFC 9110 reads it as ISO-8859-1
        return raw.decode("latin-1")


class Headers(Mapping[str, str]):
    """Response headers: read-only, case-insensitive; iteration gives lower-case names.

    A repeated header reads as its values joined with ", " (RFC 9110 5.3),
    like `httpx.Headers`.
    """

    __slots__ = ("_map",)

    def __init__(self, raw: Iterable[tuple[bytes, bytes]] = ()) -> None:
        merged: dict[str, str] = {}
        for name, value in raw:
            key = name.decode("latin-1").lower()
            text = _text(value).strip()
            merged[key] = f"{merged[key]}, {text}" if key in merged else text
        self._map = merged

    @classmethod
    def of(cls, headers: Mapping[str, str]) -> Headers:
        """Headers from a mapping of names to values (tests, fakes)."""
        made = cls()
        for name, value in headers.items():
            made._map[name.lower()] = value
        return made

    def __getitem__(self, name: str) -> str:
        return self._map[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._map

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)

    def __repr__(self) -> str:
        return f"Headers({self._map!r})"


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One completed exchange (after redirects): what the server answered, and what it cost."""

    url: str  #: final URL, after redirects
    status: int
    headers: Headers  #: case-insensitive `Mapping[str, str]`
    body: bytes  #: decoded (gzip/deflate/br undone)
    elapsed: float  #: seconds, DNS and redirects included
    bytes_received: int  #: body bytes on the wire, final response only
    redirects: tuple[str, ...]  #: the URLs that redirected, in order
    address: str  #: the IP address the final response came from

    @property
    def is_success(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300
