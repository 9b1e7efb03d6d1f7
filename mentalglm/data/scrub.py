"""PII scrubbing of posts: e-mail, URLs, QQ and WeChat ids, ID-card, bank-card and phone numbers, @mentions.

Matching runs on an NFKC view of the text (full-width `１３８` and `＠` read as `138` and `@`; for the digit rules,
Chinese numerals `一三八` read as `138` too), and each match is mapped back to the original characters, so everything outside a match is returned exactly as it came in.
Rules claim spans in priority order (e-mail before URL before the id rules before phone numbers before
mentions); a later rule never touches a span an earlier one claimed. Every rule reads in one left-to-right pass.

Mentions: Weibo writes `@name` followed by a space or a colon. A handle in that form is replaced whole. A handle
written straight into the sentence (`@小明我真的好想死`) has no visible end, so only its ASCII part and the first
word of its Chinese part (jieba) are taken, and the run stops early at characters that start a statement
(我 你 他 的 了 是 想 不 …). The trade-off: the statement after a mention is never swallowed, at the cost that
a long nickname written without a following space may keep its tail.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter
from typing import Callable, Iterator

_ASCII_WORD = "A-Za-z0-9"
_CJK = r"\u3400-\u9fff\uf900-\ufaff"
_TLDS = (r"com|cn|net|org|io|me|cc|co|info|edu|gov|top|xyz|vip|club|site|online|tech|app|dev|tv|ly|gl|hk|tw|"
         r"uk|jp|us|de|ru|so|im|to|biz|mobi|ink|fun|link|wang|shop|store|cloud|ai")
_URL_TAIL = rf"(?:[/?#][^\s{_CJK}\u3000-\u303f\uff00-\uffef“”‘’\"'<>()\[\]{{}}，。]*)?"

EMAIL_RE = re.compile(rf"(?<![{_ASCII_WORD}._%+-])[{_ASCII_WORD}._%+-]+@[{_ASCII_WORD}-]+(?:\.[{_ASCII_WORD}-]+)*"
                      rf"\.[A-Za-z]{{2,}}(?![{_ASCII_WORD}])")
URL_RE = re.compile(
    rf"(?:https?|ftp)://[^\s{_CJK}\u3000-\u303f“”‘’\"'<>()\[\]，。]+"
    rf"|(?<![{_ASCII_WORD}@.-])(?:www\.)?(?:[{_ASCII_WORD}](?:[{_ASCII_WORD}-]*[{_ASCII_WORD}])?\.)+"
    rf"(?:{_TLDS})(?![{_ASCII_WORD}-]){_URL_TAIL}",
    re.IGNORECASE,
)
# QQ and WeChat ids are only recognised after a word that names them; the id alone is replaced. A lone `Q` or `V`
# names one only when a colon follows (`Q：123456789`, not `Q版`); a QQ id may be written in groups (`123 456 789`).
_ID_SEP = r"[\s:：是为]*(?:号码|号)?[\s:：是为]*"
_LONE_Q, _LONE_V = (rf"{letter}(?<![A-Za-z]{letter})(?=\s*[:：])" for letter in ("Q", "[Vv]"))
QQ_RE = re.compile(rf"(?:QQ群|Q群|群号|QQ|Qq|qq|扣扣|企鹅号|企鹅|Q号|{_LONE_Q}){_ID_SEP}"
                   rf"(?P<id>[1-9]\d{{2,3}}(?:[\s-]\d{{3,4}}){{1,3}}|[1-9]\d{{4,11}})(?!\d)")
WECHAT_RE = re.compile(
    rf"(?:微信|薇信|威信|V信|v信|VX|Vx|vx|WX|Wx|wx|weixin|WeChat|wechat|加[Vv薇威]|{_LONE_V}){_ID_SEP}"
    rf"(?P<id>[A-Za-z][-_A-Za-z0-9]{{5,19}}|1[3-9]\d(?:[-\s]?\d){{8}}|\d{{6,12}})(?![-_A-Za-z0-9])")
_DATE = r"(?:18|19|20)\d{2}[\s-]?(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
ID_CARD_RE = re.compile(
    rf"(?<![0-9A-Za-z])[1-9]\d{{5}}[\s-]?{_DATE}[\s-]?\d{{3}}[\dXx](?![0-9A-Za-z])"
    rf"|(?<![0-9A-Za-z])[1-9]\d{{7}}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{{3}}(?![0-9A-Za-z])"
)
# 16 to 19 digits: in groups of four with one separator (a 19-digit UnionPay card ends in a group of three), or
# as one run or irregular groups. A number after an order or tracking-number word is not a card.
BANK_CARD_RE = re.compile(
    r"(?<![\d.-])(?:\d{4}(?P<sep>[\s-])\d{4}(?P=sep)\d{4}(?P=sep)\d{4}(?:(?P=sep)(?P<tail>\d{1,3}))?"
    r"|\d{4}(?:[\s-]?\d{4}){2}[\s-]?\d{4,7})(?![\d.-])")
_NOT_A_CARD_BEFORE = re.compile(r"(?:订单|单号|运单|流水|编号|交易号|快递)\D{0,4}$")
PHONE_RE = re.compile(
    r"(?<![\d+.])(?<!\d[\s-])(?:(?:\+|00)?86[\s-]?)?1[\s.-]?[3-9](?:[\s.-]?\d){9}(?![\d.])"  # mobile, any grouping
    r"|(?<![\d.])(?<!\d[\s-])(?:\(0\d{2,3}\)\s?|0\d{2,3}[\s-])\d{3,4}[\s-]?\d{4}(?![\d.])"  # landline
    r"|(?<![\d.])[48]00[\s-]?\d{3}[\s-]?\d{4}(?![\d.])"  # 400/800 service numbers
)
HANDLE_RE = re.compile(rf"(?<![{_ASCII_WORD}._%+-])@(?P<name>[\w-]{{1,30}})")
_HANDLE_END = re.compile(r"\s|:|：|@")
_STATEMENT_START = set("我你他她它咱您的了是在就都也还真好很太想要不没会能吧吗呢啊哦嗯")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _first_word(text: str) -> str:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return next(iter(jieba.cut(text, HMM=True)), "")


def _handle_length(name: str, followed_by_end: bool) -> int:
    """How many characters of `name` (the run after @) belong to the handle."""
    ascii_len = len(name) - len(name.lstrip(_ASCII_WORD + "_-"))
    cjk = name[ascii_len:]
    if not cjk:
        return ascii_len
    if followed_by_end and not _STATEMENT_START.intersection(cjk):
        return len(name)  # the canonical `@name ` / `@name:` form
    cut = next((i for i, ch in enumerate(cjk) if ch in _STATEMENT_START), len(cjk))
    return ascii_len + (len(_first_word(cjk[:cut])) if cut else 0)


def _spans(pattern: re.Pattern, group: str | int = 0,
           accept: Callable[[re.Match], bool] | None = None) -> Callable[[str], Iterator[tuple[int, int]]]:
    def find(text: str) -> Iterator[tuple[int, int]]:
        for m in pattern.finditer(text):
            if accept is None or accept(m):
                yield m.start(group), m.end(group)

    return find


def _bank_cards(text: str) -> Iterator[tuple[int, int]]:
    for m in BANK_CARD_RE.finditer(text):
        if _NOT_A_CARD_BEFORE.search(text, max(0, m.start() - 12), m.start()):
            continue
        if _luhn_ok(re.sub(r"\D", "", m.group())):
            yield m.start(), m.end()
        elif m.group("tail") and _luhn_ok(re.sub(r"\D", "", text[m.start():m.start("tail") - 1])):
            yield m.start(), m.start("tail") - 1  # a 16-digit card followed by another number


def _mentions(text: str) -> Iterator[tuple[int, int]]:
    for m in HANDLE_RE.finditer(text):
        name = m.group("name")
        length = _handle_length(name, bool(_HANDLE_END.match(text, m.end())))
        if length:
            yield m.start(), m.start("name") + length


# (placeholder, span finder, whether it reads Chinese numerals as digits), in priority order.
RULES: tuple[tuple[str, Callable[[str], Iterator[tuple[int, int]]], bool], ...] = (
    ("[EMAIL]", _spans(EMAIL_RE), False),
    ("[URL]", _spans(URL_RE), False),
    ("[QQ]", _spans(QQ_RE, "id"), True),
    ("[WECHAT]", _spans(WECHAT_RE, "id"), True),
    ("[ID]", _spans(ID_CARD_RE), True),
    ("[BANKCARD]", _bank_cards, True),
    ("[PHONE]", _spans(PHONE_RE), True),
    ("[USER]", _mentions, False),
)
PLACEHOLDERS = tuple(name for name, _, _ in RULES)


# Full-width ASCII forms and the ideographic space: what NFKC changes in most Chinese posts, one character each.
_FULL_WIDTH = {code: unicodedata.normalize("NFKC", chr(code)) for code in (*range(0xFF01, 0xFF5F), 0x3000)}


# Digits written as Chinese numerals (一三八…, 幺 for 1 as phone numbers are read out, 〇/零 for 0, the financial
# forms 壹贰…), one character each; only the digit rules read this view, so mentions and text are not affected.
_NUMERALS = str.maketrans("〇零幺一二三四五六七八九壹贰叁肆伍陆柒捌玖", "001123456789123456789")
# Only a run of three numerals can be part of a number the digit rules read (一 alone is in most posts).
_NUMERAL_RUN = re.compile("[〇零幺一二三四五六七八九壹贰叁肆伍陆柒捌玖]{3}")


def _normalised_view(text: str) -> tuple[str, list[int]]:
    """NFKC of each character, and for every character of the view the index of the original it came from."""
    view = text.translate(_FULL_WIDTH)  # one character for one: offsets are unchanged
    if unicodedata.is_normalized("NFKC", view):
        return view, list(range(len(text)))
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        folded = unicodedata.normalize("NFKC", ch) if not ch.isascii() else ch
        out.append(folded)
        origin.extend([i] * len(folded))
    return "".join(out), origin


def scrub_pii(text: str) -> tuple[str, Counter[str]]:
    """Replace PII in `text` with placeholders ([EMAIL] [URL] [QQ] [WECHAT] [ID] [BANKCARD] [PHONE] [USER]).

    Returns:
        (scrubbed text, count of replacements per placeholder). Text outside the replaced spans is unchanged.
    """
    counts: Counter[str] = Counter()
    if not text:
        return text, counts
    view, origin = _normalised_view(text)
    digits_view = view.translate(_NUMERALS) if _NUMERAL_RUN.search(view) else view
    claimed: list[tuple[int, int, str]] = []  # (original start, original end, placeholder)
    taken = [False] * len(text)
    for placeholder, find, numerals in RULES:
        for start, end in find(digits_view if numerals else view):
            if start >= end:
                continue
            o_start, o_end = origin[start], origin[end - 1] + 1
            if any(taken[o_start:o_end]):
                continue
            taken[o_start:o_end] = [True] * (o_end - o_start)
            claimed.append((o_start, o_end, placeholder))
            counts[placeholder] += 1
    if not claimed:
        return text, counts
    pieces, pos = [], 0
    for start, end, placeholder in sorted(claimed):
        pieces.append(text[pos:start])
        pieces.append(placeholder)
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces), counts
