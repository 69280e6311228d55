"""What a request comes back with: `FetchResult`, and its `Headers`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from multidict import CIMultiDict, CIMultiDictProxy


def _obs_text(value: str) -> str:
    raw = value.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:  # obs-text: RFC 9110 reads it as ISO-8859-1
        return raw.decode("latin-1")


class Headers(Mapping[str, str]):
    """Response headers: read-only, case-insensitive; iteration gives lower-case names.

    A repeated header reads as its values joined with ", " (RFC 9110 5.3),
    like `httpx.Headers`. A view of aiohttp's parsed headers: nothing is copied
    until asked for.
    """

    __slots__ = ("_fields",)

    def __init__(self, raw: Iterable[tuple[bytes, bytes]] = ()) -> None:
        fields: CIMultiDict[str] = CIMultiDict()
        for name, value in raw:
            try:
                text = value.decode().strip()
            except UnicodeDecodeError:  # obs-text: RFC 9110 reads it as ISO-8859-1
                text = value.decode("latin-1").strip()
            fields.add(name.decode("latin-1"), text)
        self._fields: CIMultiDict[str] | CIMultiDictProxy[str] = fields

    @classmethod
    def of_multidict(cls, fields: CIMultiDictProxy[str]) -> Headers:
        """A view of aiohttp's headers (decoded there; undecodable bytes kept as surrogates)."""
        made = cls.__new__(cls)
        made._fields = fields
        return made

    @classmethod
    def of(cls, headers: Mapping[str, str]) -> Headers:
        """Headers from a mapping of names to values (tests, fakes)."""
        made = cls()
        made._fields = CIMultiDict(headers)
        return made

    def __getitem__(self, name: str) -> str:
        values = self._fields.getall(name, None)
        if values is None:
            raise KeyError(name)
        value = values[0] if len(values) == 1 else ", ".join(values)
        return value if value.isascii() else _obs_text(value)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._fields

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def _names(self) -> dict[str, None]:
        return dict.fromkeys(name.lower() for name in self._fields)

    def __repr__(self) -> str:
        return f"Headers({dict(self)!r})"


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
