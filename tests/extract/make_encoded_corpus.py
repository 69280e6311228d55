"""Write the corpus pages that are not UTF-8 from their UTF-8 sources in `corpus_src/`.

Real Japanese shops still serve Shift_JIS (in practice Windows-31J, with ① and
㈱) and EUC-JP; these pages must be stored as those bytes, and editing them
by hand is impractical. Run `python tests/extract/make_encoded_corpus.py`
after changing a source; a test checks that the stored bytes are up to date.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
SOURCES = HERE / "corpus_src"
CORPUS = HERE / "corpus"

#: source file name → (corpus file name, Python codec of the stored bytes)
ENCODED = {
    "jp_rakuten_sjis.html": ("jp_rakuten_sjis.html", "cp932"),
    "jp_eucjp_shop.html": ("jp_eucjp_shop.html", "euc_jp"),
    "jp_eucjp_soldout.html": ("jp_eucjp_soldout.html", "euc_jp"),
    "jp_sjis_header_only.html": ("jp_sjis_header_only.html", "cp932"),
}


def encoded_pages() -> dict[Path, bytes]:
    """Each encoded corpus file and the bytes it should hold."""
    return {
        CORPUS / target: (SOURCES / source).read_text(encoding="utf-8").encode(codec)
        for source, (target, codec) in ENCODED.items()
    }


def main() -> None:
    for path, data in encoded_pages().items():
        path.write_bytes(data)
        print(f"wrote {path.relative_to(HERE)} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
