"""`python -m services.web.catalogue`: gather every string the web UI marks for translation
(`_("...")` in templates and pages, babel's extractors) into the Japanese catalogue,
keeping the translations it has; new strings arrive untranslated (and the catalogue test
fails until a translator fills them in)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from services.web.i18n import LOCALES_DIR

WEB_DIR = Path(__file__).parent
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]


def marked_strings() -> set[str]:
    """Every msgid the templates and pages mark with `_()`."""
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(WEB_DIR), METHODS, keywords={"_": None}
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def update(language: str = "ja") -> Path:
    path = LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"
    old: dict[str, str] = {}
    if path.exists():
        with path.open("rb") as handle:
            old = {str(m.id): str(m.string) for m in read_po(handle) if m.id}
    catalog = Catalog(locale=language, project="PriceAlert web", fuzzy=False)
    for text in sorted(marked_strings()):
        catalog.add(text, old.get(text, ""))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=100, omit_header=False, sort_output=True)
    return path


if __name__ == "__main__":
    print(update())
