"""Which text encoding a page's bytes are in, and decoding them.

Precedence follows the WHATWG encoding sniffing algorithm: a byte-order mark,
then the HTTP `Content-Type` charset, then `<meta charset>` or
`<meta http-equiv="Content-Type">` in the first bytes, then a guess. Labels are
mapped the way browsers map them, because shops declare what browsers accept:
`Shift_JIS` decodes as Windows-31J (CP932, which adds the NEC/IBM characters
such as ① and ㈱ that real Japanese pages use), `EUC-JP` as EUC-JP, and
`ISO-8859-1` / `ASCII` as Windows-1252.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Browser label aliases that Python either lacks or maps differently.
_ALIASES = {
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "ms932": "cp932",
    "windows-31j": "cp932",
    "csshiftjis": "cp932",
    "euc-jp": "euc_jp",
    "x-euc-jp": "euc_jp",
    "eucjp": "euc_jp",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
}

# The HTML prescan looks at 1024 bytes; Japanese pages often put a long
# comment or script first, so look a little further.
_PRESCAN_BYTES = 4096
_META_CHARSET = re.compile(rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.I)
_XML_DECL = re.compile(rb"""^<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:\-]+)""", re.I)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.I)


def normalize_label(label: str) -> str | None:
    """Return the Python codec for an encoding label, or None if unknown."""
    name = label.strip().lower()
    name = _ALIASES.get(name, name)
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return None
    # A page cannot really be UTF-16 without a BOM; browsers treat the label as UTF-8.
    if codec.startswith("utf-16"):
        return "utf-8"
    return codec


def _header_charset(headers: Mapping[str, str] | None) -> str | None:
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == "content-type":
            match = _HEADER_CHARSET.search(value)
            return normalize_label(match.group(1)) if match else None
    return None


def _meta_charset(head: bytes) -> str | None:
    match = _XML_DECL.match(head) or _META_CHARSET.search(head)
    return normalize_label(match.group(1).decode("ascii")) if match else None


def detect_encoding(body: bytes, headers: Mapping[str, str] | None = None) -> tuple[str, int]:
    """Return the codec name for `body` and the length of its BOM (0 without one)."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return codec, len(bom)
    declared = _header_charset(headers) or _meta_charset(body[:_PRESCAN_BYTES])
    if declared:
        return declared, 0
    return _guess(body), 0


def _guess(body: bytes) -> str:
    """Guess for pages that declare nothing: UTF-8 if valid, else a Japanese codec."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    # Undeclared legacy pages we meet are mostly Japanese. EUC-JP goes first:
    # EUC-JP bytes usually also decode as (garbled) CP932 half-width katakana,
    # while Shift_JIS text fails EUC-JP at its first kana lead byte (0x81-0x9F).
    for codec in ("euc_jp", "cp932"):
        try:
            body.decode(codec)
        except UnicodeDecodeError:
            continue
        return codec
    return "cp1252"


def decode_html(body: bytes, headers: Mapping[str, str] | None = None) -> tuple[str, str]:
    """Decode a page to text; returns (text, codec). Undecodable bytes become U+FFFD."""
    codec, skip = detect_encoding(body, headers)
    return body[skip:].decode(codec, errors="replace"), codec
