"""Encoding detection: BOM, HTTP header, meta charset, and a guess for undeclared pages."""

from __future__ import annotations

import codecs

import pytest

from pricealert.extract.encoding import decode_html, detect_encoding, normalize_label

JAPANESE = "<p>在庫あり 税込 1,280円 売り切れ</p>"
# NEC/IBM characters exist in Windows-31J (what pages labelled Shift_JIS really are) only.
CP932_ONLY = "<p>①保温 ㈱タナカ</p>"


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("Shift_JIS", "cp932"),
        ("SJIS", "cp932"),
        ("windows-31j", "cp932"),
        ("EUC-JP", "euc_jp"),
        ("x-euc-jp", "euc_jp"),
        ("UTF-8", "utf-8"),
        ("utf8", "utf-8"),
        ("ISO-8859-1", "cp1252"),
        ("utf-16", "utf-8"),
        ("no-such-charset", None),
    ],
)
def test_encoding_labels_map_as_browsers_map_them(label: str, codec: str | None) -> None:
    assert normalize_label(label) == codec


def test_the_http_header_charset_wins_over_the_meta_charset() -> None:
    body = b'<meta charset="utf-8">' + CP932_ONLY.encode("cp932")
    headers = {"Content-Type": "text/html; charset=Shift_JIS"}
    assert detect_encoding(body, headers) == ("cp932", 0)
    assert decode_html(body, headers)[0].endswith(CP932_ONLY)


def test_a_bom_wins_over_the_header() -> None:
    body = codecs.BOM_UTF8 + JAPANESE.encode("utf-8")
    assert detect_encoding(body, {"content-type": "text/html; charset=EUC-JP"}) == ("utf-8", 3)
    assert decode_html(body)[0] == JAPANESE


@pytest.mark.parametrize(
    ("declaration", "codec"),
    [
        ('<meta charset="EUC-JP">', "euc_jp"),
        ("<meta charset=shift_jis>", "cp932"),
        ('<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">', "cp932"),
        ("<?xml version='1.0' encoding='EUC-JP'?>", "euc_jp"),
    ],
)
def test_meta_charset_and_http_equiv_are_read(declaration: str, codec: str) -> None:
    body = f"<html><head>{declaration}</head><body>{JAPANESE}</body></html>".encode(codec)
    assert detect_encoding(body) == (codec, 0)
    assert JAPANESE in decode_html(body)[0]


@pytest.mark.parametrize("codec", ["cp932", "euc_jp", "utf-8"])
def test_undeclared_japanese_pages_are_recognised(codec: str) -> None:
    body = ("<html><body>" + JAPANESE * 3 + "ご注文はこちら</body></html>").encode(codec)
    assert detect_encoding(body) == (codec, 0)


def test_undecodable_bytes_become_replacement_characters_not_errors() -> None:
    text, codec = decode_html(
        b"<p>\xff\xfe\x80 ok</p>", {"Content-Type": "text/html; charset=utf-8"}
    )
    assert codec == "utf-8"
    assert text.endswith(" ok</p>")
    assert "\ufffd" in text
