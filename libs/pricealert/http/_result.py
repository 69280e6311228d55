"""What a request comes back with: `FetchResult`, and its `Headers`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar, overload

from multidict import CIMultiDict, CIMultiDictProxy

_T = TypeVar("_T")


def _obs_text(value: str) -> str:
    raw = value.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:  # obs-text: RFC 9110 reads it as ISO-8859-1
        return raw.decode("latin-1")


class Headers(Mapping[str, str]):
    """Response headers: read-only, case-insensitive; iteration gives lower-case names.

    A repeated header reads as its values joined with ", " (RFC 9110 5.3),
    like `httpx.Headers`. Made from aiohttp's parsed headers without copying;
    the lower-cased mapping is built on first use.
    """

    __slots__ = ("_fields", "_map")

    def __init__(self, raw: Iterable[tuple[bytes, bytes]] = ()) -> None:
        fields: CIMultiDict[str] = CIMultiDict()
        for name, value in raw:
            try:
                text = value.decode().strip()
            except UnicodeDecodeError:  # obs-text: RFC 9110 reads it as ISO-8859-1
                text = value.decode("latin-1").strip()
            fields.add(name.decode("latin-1"), text)
        self._fields: CIMultiDict[str] | CIMultiDictProxy[str] = fields
        self._map: dict[str, str] | None = None

    @classmethod
    def of_multidict(cls, fields: CIMultiDictProxy[str]) -> Headers:
        """A view of aiohttp's headers (decoded there; undecodable bytes kept as surrogates)."""
        made = cls.__new__(cls)
        made._fields = fields
        made._map = None
        return made

    @classmethod
    def of(cls, headers: Mapping[str, str]) -> Headers:
        """Headers from a mapping of names to values (tests, fakes)."""
        made = cls()
        made._fields = CIMultiDict(headers)
        return made

    def _mapping(self) -> dict[str, str]:
        mapping = self._map
        if mapping is None:
            mapping = self._map = {}
            for name, value in self._fields.items():
                key = name.lower()
                if not value.isascii():  # surrogates for bytes that were not UTF-8
                    value = _obs_text(value)
                mapping[key] = f"{mapping[key]}, {value}" if key in mapping else value
        return mapping

    def __getitem__(self, name: str) -> str:
        return self._mapping()[name.lower()]

    @overload
    def get(self, key: str, /) -> str | None: ...
    @overload
    def get(self, key: str, /, default: str | _T) -> str | _T: ...
    def get(self, key: str, /, default: object = None) -> object:
        """The value of `key` (any case), or `default`."""
        return self._mapping().get(key.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._mapping()

    def __iter__(self) -> Iterator[str]:
        return iter(self._mapping())

    def __len__(self) -> int:
        return len(self._mapping())

    def __repr__(self) -> str:
        return f"Headers({self._mapping()!r})"


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
