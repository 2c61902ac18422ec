"""Customer answers as the words a voice should say: phone numbers digit by digit in their
groups, prices with their currency, times, dates, order numbers, e-mail and web addresses, and
common abbreviations. Plain English text in, plain English words out; no voice is involved, so
`avatar voices read` shows exactly what will be spoken.

The rules are ordered: the most specific patterns (addresses, phone numbers, prices, times,
dates) are rewritten before plain numbers, so "0800 123 4567" never becomes "eight hundred".
Dates written with slashes are read month first for American English and day first otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
SCALES = [(10 ** 12, "trillion"), (10 ** 9, "billion"), (10 ** 6, "million"), (1000, "thousand")]
ORDINAL_WORDS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                 "nine": "ninth", "twelve": "twelfth"}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
MONTH_NAMES = {m.lower(): i + 1 for i, m in enumerate(MONTHS)} | {m[:3].lower(): i + 1 for i, m in enumerate(MONTHS)}
DAYS = {"mon": "Monday", "tue": "Tuesday", "tues": "Tuesday", "wed": "Wednesday", "thu": "Thursday",
        "thur": "Thursday", "thurs": "Thursday", "fri": "Friday", "sat": "Saturday", "sun": "Sunday"}
# symbol or code: (unit, units, subunit, subunits)
CURRENCIES = {
    "£": ("pound", "pounds", "penny", "pence"), "GBP": ("pound", "pounds", "penny", "pence"),
    "$": ("dollar", "dollars", "cent", "cents"), "USD": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"), "EUR": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", "", ""), "JPY": ("yen", "yen", "", ""),
    "CHF": ("franc", "francs", "centime", "centimes"),
}
ABBREVIATIONS = {
    "e.g.": "for example", "i.e.": "that is", "etc.": "et cetera", "approx.": "approximately",
    "Mr.": "Mister", "Mrs.": "Missus", "Ms.": "Miz", "Dr.": "Doctor", "vs.": "versus", "Ltd.": "Limited",
    "Inc.": "Incorporated", "Co.": "Company", "Dept.": "Department", "Tel.": "Telephone", "tel.": "telephone",
    "ID": "I-D", "PIN": "pin", "ASAP": "as soon as possible",
    "24/7": "twenty-four seven", "N/A": "not applicable", "&": "and",
}
SPOKEN_SYMBOLS = {"@": "at", ".": "dot", "/": "slash", "-": "dash", "_": "underscore", ":": "colon",
                  "+": "plus", "#": "hash", "?": "question mark", "=": "equals", "~": "tilde"}


@dataclass(frozen=True)
class ReadingConfig:
    """How to read what is ambiguous. month_first: "3/4/2026" is March 4th (American) or 3rd April."""

    month_first: bool = True


def cardinal(number: int) -> str:
    """"1234" -> "one thousand two hundred thirty-four" (no "and", as American English reads it)."""
    if number < 0:
        return "minus " + cardinal(-number)
    if number < 20:
        return ONES[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return TENS[tens] + ("-" + ONES[ones] if ones else "")
    if number < 1000:
        hundreds, rest = divmod(number, 100)
        return ONES[hundreds] + " hundred" + (" " + cardinal(rest) if rest else "")
    for scale, name in SCALES:
        if number >= scale:
            high, rest = divmod(number, scale)
            return cardinal(high) + " " + name + (" " + cardinal(rest) if rest else "")
    raise AssertionError("unreachable")


def ordinal(number: int) -> str:
    """"21" -> "twenty-first"."""
    words = cardinal(number)
    head, sep, last = words.rpartition("-" if "-" in words.split(" ")[-1] else " ")
    if last in ORDINAL_WORDS:
        last = ORDINAL_WORDS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + sep + last


def year(number: int) -> str:
    """"2026" -> "twenty twenty-six", "2005" -> "two thousand five", "1999" -> "nineteen ninety-nine"."""
    if 2000 <= number < 2010 or number % 1000 == 0:
        return cardinal(number)
    high, low = divmod(number, 100)
    if low == 0:
        return cardinal(high) + " hundred"
    return cardinal(high) + " " + (cardinal(low) if low >= 10 else "oh " + cardinal(low))


def digits(text: str) -> str:
    """"0800" -> "zero eight zero zero"."""
    return " ".join(ONES[int(d)] for d in text if d.isdigit())


def spell(text: str) -> str:
    """Letters and digits one by one: "AB12" -> "A-B one two" (letters joined by hyphens: a
    spaced "A" is read as the article, "A-B" as two letter names)."""
    words = []
    for c in (c for c in text if c.isalnum()):
        if c.isdigit():
            words.append(ONES[int(c)])
        elif words and words[-1][-1].isupper():
            words[-1] += "-" + c.upper()
        else:
            words.append(c.upper())
    return " ".join(words)


def _number(text: str) -> str:
    """A written number ("1,299", "3.5", "12") in words."""
    text = text.replace(",", "")
    whole, _, fraction = text.partition(".")
    words = cardinal(int(whole)) if whole else "zero"
    return words + (" point " + digits(fraction) if fraction else "")


def _money(symbol: str, amount: str) -> str:
    unit, units, sub, subs = CURRENCIES[symbol]
    whole, _, cents = amount.replace(",", "").partition(".")
    value = int(whole or 0)
    words = f"{cardinal(value)} {unit if value == 1 else units}"
    if cents and int(cents) and sub:
        cents = int(cents.ljust(2, "0")[:2])
        words += f" and {cardinal(cents)} {sub if cents == 1 else subs}"
    return words


def _clock(hour: int, minute: int, half: str | None) -> str:
    """A time of day: "9", "0", "am" -> "nine AM"; 17:30 -> "seventeen thirty"."""
    if minute == 0:
        words = cardinal(hour) + ("" if half else " hundred" if hour > 12 else " o'clock")
    elif minute < 10:
        words = f"{cardinal(hour)} oh {cardinal(minute)}"
    else:
        words = f"{cardinal(hour)} {cardinal(minute)}"
    if half:
        words += " AM" if half.lower().startswith("a") else " PM"  # as letters by every voice (a spaced "A" is the article)
    return words


def _date(day: int, month: int, year_text: str | None) -> str:
    words = f"{MONTHS[month - 1]} {ordinal(day)}"
    return words + (f", {year(int(year_text))}" if year_text else "")


# Each rule: a pattern and what it becomes. Order matters (see the module docstring).
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_URL = re.compile(r"\b(?:https?://)?(?:www\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|io|co|uk|de|fr|eu|info|"
                  r"shop|store|app|dev|example)(?:\.[a-z]{2})?(?:/[\w./-]*)?", re.IGNORECASE)
_PHONE = re.compile(r"(?<![\w.])(\+?\(?\d{1,5}\)?(?:[ .-]\d{2,6}){1,4})(?!\w|[.,]\d)")
_AMOUNT = r"(?:\d{1,3}(?:,\d{3})+|\d+)"  # 1,299 or 1299: a comma after a number is punctuation
_MONEY_BEFORE = re.compile(r"([£$€¥])\s?(" + _AMOUNT + r"(?:\.\d{1,2})?)(?!\d)")
_MONEY_AFTER = re.compile(r"(" + _AMOUNT + r"(?:\.\d{1,2})?)\s?(GBP|USD|EUR|JPY|CHF)\b")
_TIME = re.compile(r"\b([01]?\d|2[0-3])(?:[:.]([0-5]\d))?\s?([ap])\.?\s?m\b|\b([01]?\d|2[0-3]):([0-5]\d)\b", re.IGNORECASE)
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_SLASH_DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})\b")
_NAMED_DATE = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(" + "|".join(MONTHS) + r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept"
                         r"|Oct|Nov|Dec)\.?(?:,?\s+(\d{4}))?\b", re.IGNORECASE)
_MONTH_DAY = re.compile(r"\b(" + "|".join(MONTHS) + r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?\s+(\d{1,2})"
                        r"(?:st|nd|rd|th)?(?:,?\s+(\d{4}))?\b", re.IGNORECASE)
# An order (ticket, ...) number: capitals and digits with at least one digit ("order confirmation"
# and "Account settings" are words, not numbers).
_ORDER = re.compile(r"\b(order|ref(?:erence)?|ticket|case|invoice|account|tracking)(\s+(?:number|no\.?|#)\s*|\s*#\s*|\s+)"
                    r"(?-i:(?=[A-Z0-9-]*\d)([A-Z0-9][A-Z0-9-]{3,}))\b", re.IGNORECASE)
_DAY_RANGE = re.compile(r"\b(Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)\s?[-–]\s?(Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)\b",
                        re.IGNORECASE)
_PERCENT = re.compile(r"(" + _AMOUNT + r"(?:\.\d+)?)\s?%")
_MONTH_YEAR = re.compile(r"\b(" + "|".join(MONTHS) + r")\s+(\d{4})\b")  # December 2021
# A number dialled or texted ("call 150", "text COST to 85075"): its digits, not a quantity.
_DIALLED = re.compile(r"\b((?:call|dial|ring|phone)(?:\s+us)?(?:\s+free)?(?:\s+on)?|text(?:ing)?\s+\w+\s+to)\s+(\d{3,6})\b",
                      re.IGNORECASE)
_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b")
_RANGE = re.compile(r"(?<=\d)\s?[-–]\s?(?=\d)")
_TIME_RANGE = re.compile(r"(?:(?<=[ap]m)|(?<=:\d\d))\s?[-–]\s?(?=\d)", re.IGNORECASE)  # 9am-5pm, 9:00-17:30
_NUMBER = re.compile(r"\b" + _AMOUNT + r"(?:\.\d+)?(?!\d)")


def _address(match: re.Match) -> str:
    text = re.sub(r"^https?://", "", match.group(0), flags=re.IGNORECASE).rstrip("/")
    words = []
    for part in re.split(r"([@./_+:#?=~-])", text):
        if not part:
            continue
        if part in SPOKEN_SYMBOLS:
            words.append(SPOKEN_SYMBOLS[part])
        elif part.lower() == "www":
            words.append("w w w")
        elif part.isdigit():
            words.append(digits(part))
        else:
            words.append(part)
    return " ".join(words)


def _phone(match: re.Match) -> str:
    text = match.group(1)
    count = sum(c.isdigit() for c in text)
    if count < 7 or (count == 8 and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text)):
        return text  # too short for a phone number (a range, a year, a quantity)
    groups = re.findall(r"\d+", text)
    return ("plus " if text.startswith("+") else "") + ", ".join(digits(g) for g in groups)


def _time(match: re.Match) -> str:
    if match.group(3):
        hour, minute, half = int(match.group(1)), int(match.group(2) or 0), match.group(3)
        return _clock(hour, minute, half + "m")
    return _clock(int(match.group(4)), int(match.group(5)), None)


def _slash_date(match: re.Match, config: ReadingConfig) -> str:
    first, second, year_text = int(match.group(1)), int(match.group(2)), match.group(3)
    month, day = (first, second) if config.month_first else (second, first)
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return match.group(0)
    if len(year_text) == 2:
        year_text = "20" + year_text
    return _date(day, month, year_text)


def spoken_text(text: str, config: ReadingConfig = ReadingConfig()) -> str:
    """`text` as the words a voice should say (see the module docstring). Idempotent on plain words."""
    out = text
    out = _EMAIL.sub(_address, out)
    out = _URL.sub(_address, out)
    out = _ORDER.sub(lambda m: f"{m.group(1)} number {spell(m.group(3))}", out)
    out = _MONEY_BEFORE.sub(lambda m: _money(m.group(1), m.group(2)), out)
    out = _MONEY_AFTER.sub(lambda m: _money(m.group(2), m.group(1)), out)
    out = _ISO_DATE.sub(lambda m: _date(int(m.group(3)), int(m.group(2)), m.group(1))
                        if 1 <= int(m.group(2)) <= 12 and 1 <= int(m.group(3)) <= 31 else m.group(0), out)
    out = _SLASH_DATE.sub(lambda m: _slash_date(m, config), out)
    out = _NAMED_DATE.sub(lambda m: f"the {ordinal(int(m.group(1)))} of {MONTHS[MONTH_NAMES[m.group(2).lower()[:3]] - 1]}"
                          + (f", {year(int(m.group(3)))}" if m.group(3) else ""), out)
    out = _MONTH_DAY.sub(lambda m: _date(int(m.group(2)), MONTH_NAMES[m.group(1).lower()[:3]], m.group(3)), out)
    out = _MONTH_YEAR.sub(lambda m: f"{m.group(1)} {year(int(m.group(2)))}", out)
    out = _TIME_RANGE.sub(" to ", out)
    out = _TIME.sub(_time, out)
    out = _PHONE.sub(_phone, out)
    out = _DIALLED.sub(lambda m: f"{m.group(1)} {digits(m.group(2))}", out)
    out = _DAY_RANGE.sub(lambda m: f"{DAYS[m.group(1).lower()]} to {DAYS[m.group(2).lower()]}", out)
    out = _PERCENT.sub(lambda m: _number(m.group(1)) + " percent", out)
    out = _ORDINAL.sub(lambda m: ordinal(int(m.group(1))), out)
    out = _RANGE.sub(" to ", out)
    for short, long in ABBREVIATIONS.items():
        out = re.sub(r"(?<![\w.])" + re.escape(short) + r"(?![\w])", long, out)
    out = re.sub(r"(?<=\d)(?=[A-Za-z])(?!s\b)", " ", out)  # 2.0m, 5GB: the unit a word of its own ("4s" stays)
    out = _NUMBER.sub(lambda m: _number(m.group(0)), out)
    return re.sub(r"\s+", " ", out).strip()
