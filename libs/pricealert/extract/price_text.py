"""Reading a price out of human-written text such as `税込 1,280円 (送料別)`.

The text is NFKC-normalised first (full-width digits, `，`, `￥` and no-break
spaces fold to their plain forms). Every number in it is a candidate; each is
read together with the currency right before or after it and with the words
around it. Candidates that are points (`29ポイント`, `pt`), shipping (`送料`),
instalments (`10x de R$ 129,90`, `月々`), was/list/RRP prices, unit prices or
percentages are never the price. Among the rest, a tax-included price
(`税込`, `inkl. MwSt.`) beats a plain one, which beats a tax-excluded one
(`税抜`, `excl. VAT`); ties go to the first. Candidates with a currency beat bare
numbers.

Separators are read by shape, not by a locale table: with both `.` and `,` the
last one is the decimal mark (`1.234,56`, `1,234.56`); a separator repeated is
grouping (`1.234.567`, Indian `1,23,456`); a single separator followed by
exactly three digits is grouping (`1,280` is 1280, `1.299` is 1299), by one or
two digits decimal (`12,50`). Apostrophes and spaces group (`1'234.50`,
`1 234,56`). Currencies without a minor unit (JPY, KRW) never take `,` as a
decimal mark. price-parser reads most of these shapes too, but it has no idea
of context words, of JPY's missing minor unit, or of ISO codes for symbols, so
this module does the reading itself in the same spirit.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from pricealert.extract.currency import ZERO_DECIMAL, normalize_amount, to_iso

CURRENCY = _CUR = (
    r"(?:(?<![A-Za-z])(?:US|CA|AU|NZ|HK|MX|NT|R|C|A|S)\$|\$|€|£|¥|₹|₩|₽|₺|₫|₱|₪|฿|円|元|zł|Kč"
    r"|(?<![A-Za-z])(?:zl|Ft|lei|kr\.?|Rs\.?|Fr\.|RMB|[A-Z]{3})(?![A-Za-z]))"
)
# A space groups digits only before exactly three digits ("1 234,56"), so that
# "2 x 3" or "Qty 1 280円" do not merge into one number.
NUMBER = re.compile(r"(?<![\d.,])\d+(?:(?:[.,'’]|\s(?=\d{3}(?!\d)))\d+)*")
_PREFIX = re.compile(rf"({_CUR})\s*$")
_UNIT = r"ポイント|pts?\b|points?\b|P還元|倍|%|個|点|件|回払い|回|ヶ月|か月|カ月|x\b|×"
_TAX_AFTER = (
    r"税込み?|税抜き?|税別|tax incl\.?|incl\.? (?:vat|tax)|inkl\.? mwst\.?|\bttc\b|\bht\b"
    r"|excl\.? (?:vat|tax)|zzgl\.? mwst\.?"
)
# What directly follows a number and belongs to it: its currency, a unit
# ("29ポイント", or letters glued on as in "128GB"), a tax note and a short
# parenthesised note without digits ("(税込)"). A word after a space ("statt")
# is not claimed: it introduces the next number.
_SUFFIX = re.compile(
    rf"(?:\s*(?P<cur>{_CUR}))?(?P<unit>\s*(?:{_UNIT})|[A-Za-z]+)?(?P<tax>\s*(?i:{_TAX_AFTER}))?"
    rf"\s*(?P<paren>[(\[（【][^)\]）】\d]{{0,24}}[)\]）】])?"
)
_FREE_SHIPPING = re.compile(
    r"(?i)送料無料|送料込み?|送料当店負担|free shipping|free delivery|versandkostenfrei"
    r"|livraison gratuite|frete grátis|frete gratis|darmowa dostawa|envío gratis"
)
_POINTS = re.compile(r"(?i)ポイント|pts?\b|points?\b|還元|獲得")
_SHIPPING = re.compile(
    r"(?i)送料|配送料|手数料|shipping|delivery|versand|livraison|frete|env[íi]o|dostawa|porto"
)
_INSTALMENT = re.compile(
    r"(?i)月々|月額|分割|/\s*月|per month|/\s*mo\b|a month|monthly|mensal|monatlich|\bemi\b"
    r"|parcela|sem juros|interest.free|\bratenzahlung|\brate\b"
)
_INSTALMENT_COUNT = re.compile(
    rf"(?i)\d+\s*(?:x|×|回払い|回|parcelas?|(?:interest-free )?(?:installments?|payments?)|raten?)"
    rf"\s*(?:de|of|da|von|à)?\s*(?:{_CUR})?\s*$"
)
_WAS = re.compile(
    r"(?i)通常価格|通常販売価格|定価|希望小売|参考価格|参考小売|旧価格|元値|メーカー価格|当店通常"
    r"|\bwas\b|\brrp\b|\buvp\b|\bmsrp\b|list price|regular price|\breg\.|\bstatt\b|original price"
    r"|prix barr|prix conseill|\bantes\b|cena katalogowa|compare at|previously|\bvorher\b"
)
_UNIT_PRICE = re.compile(r"(?i)/\s*(?:kg|g|l|ml|100\s*g|100\s*ml|m)\b|per\s+(?:kg|100)|あたり")
_TAX_IN = re.compile(
    r"(?i)税込|tax incl|incl\.? tax|inkl\.|incl\.? vat|inc\.? vat|\bttc\b|iva incl|brutto|含税"
)
TAX_EXCLUDED = _TAX_EX = re.compile(
    r"(?i)税抜|税別|本体価格|本体|excl\.?|ex\.? vat|zzgl|netto|\bht\b|\+\s*tax|\+\s*税|pre-tax"
    r"|ohne mwst|sans tva|hors tax|sin iva|senza iva|brez ddv|bez pdv|bez dph|bez vat|excl\.? btw"
    r"|exkl\.? moms|ex\.? moms|ilman alv"
)
_ARROW = re.compile(r"→|⇒|->|▶")
_EXCLUDED_UNITS = frozenset(
    {"ポイント", "pt", "pts", "point", "points", "P還元", "倍", "%", "個", "点", "件", "回払い",
     "回", "ヶ月", "か月", "カ月", "x", "×"}
)  # fmt: skip


@dataclass(slots=True)
class _Candidate:
    amount: Decimal
    currency: str | None
    rank: int  # 2 tax-included, 1 plain, 0 tax-excluded
    excluded: bool


def to_decimal(
    number: str, currency: str | None = None, *, structured: bool = False
) -> Decimal | None:
    """Read a number written with any common grouping and decimal marks, or None.

    `structured` values come from schema.org markup, which mandates `.` as the
    decimal mark, so a lone `.` is a decimal point there even before three digits.
    """
    text = number.strip().replace("'", "").replace("’", "").replace(" ", "").replace("\u00a0", "")
    dots, commas = text.count("."), text.count(",")
    if dots and commas:
        decimal_mark = "." if text.rfind(".") > text.rfind(",") else ","
        if text.count(decimal_mark) > 1:
            return None
        group_mark = "," if decimal_mark == "." else "."
        text = text.replace(group_mark, "").replace(decimal_mark, ".")
    elif dots or commas:
        mark = "." if dots else ","
        head, _, tail = text.rpartition(mark)
        if dots + commas > 1:
            if len(tail) != 3:
                return None
            text = text.replace(mark, "")
        elif currency in ZERO_DECIMAL and (mark == "," or len(tail) == 3):
            text = head + tail
        elif structured and mark == ".":
            pass
        elif len(tail) == 3 and head.strip("0") != "":
            text = head + tail
        else:
            text = head + "." + tail
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def parse_price(
    text: str, *, default_currency: str | None = None, japanese: bool = False
) -> tuple[Decimal | None, str | None]:
    """Return (amount, ISO currency) of the price `text` shows, or (None, None)."""
    text = _FREE_SHIPPING.sub(" ", unicodedata.normalize("NFKC", text))
    if japanese and default_currency is None:
        default_currency = "JPY"
    candidates = _candidates(text, default_currency)
    usable = [c for c in candidates if not c.excluded]
    if any(c.currency for c in usable):
        usable = [c for c in usable if c.currency]
    if not usable:
        return None, None
    best = max(usable, key=lambda c: c.rank)  # max keeps the first of equal ranks
    currency = best.currency or default_currency
    return normalize_amount(best.amount, currency), currency


def _candidates(text: str, default_currency: str | None) -> list[_Candidate]:
    found: list[_Candidate] = []
    matches = list(NUMBER.finditer(text))
    claimed_end = 0
    for index, match in enumerate(matches):
        start, end = match.span()
        if start < claimed_end:  # swallowed by the previous number's suffix
            continue
        before = text[claimed_end:start]
        next_start = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        prefix = _PREFIX.search(before)
        suffix = _SUFFIX.match(text, end, next_start)
        assert suffix is not None  # every group is optional, so it always matches
        token = prefix.group(1) if prefix else suffix.group("cur")
        if prefix and suffix.group("cur"):
            # "$19.99 $24.99": the second "$" belongs to the next number.
            suffix = _SUFFIX.match(text, end, end)
            assert suffix is not None
        claimed_end = suffix.end()
        unit = suffix.group("unit") or ""
        context = before + text[end:claimed_end]
        currency = to_iso(token, default=default_currency, in_text=True) if token else None
        if _ARROW.search(before) and found:
            found[-1].excluded = True  # "¥3,980 → ¥2,980": the first is the old price
        excluded = (
            unit.lower() in _EXCLUDED_UNITS
            or (unit != "" and not currency and unit[0].isascii() and unit.isalpha())
            or bool(_POINTS.search(context) or _SHIPPING.search(context))
            or bool(_INSTALMENT.search(context) or _WAS.search(context))
            or bool(_UNIT_PRICE.search(context))
            or bool(_INSTALMENT_COUNT.search(text, max(0, start - 32), start))
        )
        amount = to_decimal(match.group(0), currency or default_currency)
        if amount is None:
            continue
        rank = 2 if _TAX_IN.search(context) else 0 if _TAX_EX.search(context) else 1
        found.append(_Candidate(amount, currency, rank, excluded))
    return found
