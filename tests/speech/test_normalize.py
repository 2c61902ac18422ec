"""What the voice will say for the things customer answers are full of (table-driven)."""

import pytest

from avatar.speech.normalize import ReadingConfig, cardinal, ordinal, spoken_text, year

CASES = [
    # phone numbers: digit by digit, in their groups
    ("Call 0800 123 4567.", "Call zero eight zero zero, one two three, four five six seven."),
    ("Ring +44 20 7946 0958 today", "Ring plus four four, two zero, seven nine four six, zero nine five eight today"),
    ("(555) 123-4567", "five five five, one two three, four five six seven"),
    ("555.123.4567", "five five five, one two three, four five six seven"),
    ("call 1-800-555-0199, or", "call one, eight zero zero, five five five, zero one nine nine, or"),
    ("1 2 3 4", "one two three four"),
    ("call us on 01632 960417, or", "call us on zero one six three two, nine six zero four one seven, or"),
    ("or call 150 from another phone", "or call one five zero from another phone"),
    ("texting COST to 85075.", "texting COST to eight five zero seven five."),  # spaced digits: too few for a phone number
    # prices with their currency
    ("It costs £3.95", "It costs three pounds and ninety-five pence"),
    ("only $10", "only ten dollars"),
    ("€2.50 each", "two euros and fifty cents each"),
    ("£1", "one pound"),
    ("$1,299.99", "one thousand two hundred ninety-nine dollars and ninety-nine cents"),
    ("a fee of 5 EUR", "a fee of five euros"),
    ("is £35, our Standard is £70", "is thirty-five pounds, our Standard is seventy pounds"),
    # times
    ("We open at 9 am", "We open at nine AM"),
    ("until 5:30pm", "until five thirty PM"),
    ("from 9am-5pm", "from nine AM to five PM"),
    ("at 17:30", "at seventeen thirty"),
    ("at 09:05", "at nine oh five"),
    ("until 10.30pm daily", "until ten thirty PM daily"),
    # dates
    ("on 2026-12-07", "on December seventh, twenty twenty-six"),
    ("by 12/25/2026", "by December twenty-fifth, twenty twenty-six"),
    ("on 7 December 2026", "on the seventh of December, twenty twenty-six"),
    ("on March 3rd, 2027", "on March third, twenty twenty-seven"),
    ("since December 2021", "since December twenty twenty-one"),
    # order and reference numbers: one by one
    ("Your order #AB12345 has shipped", "Your order number A-B one two three four five has shipped"),
    ("ticket number 48213", "ticket number four eight two one three"),
    ("Your order confirmation email", "Your order confirmation email"),  # words, not a number
    ("open Account settings", "open Account settings"),
    ("from 11 am to 4 pm. We close", "from eleven AM to four PM. We close"),  # the sentence still ends
    # e-mail and web addresses
    ("Write to help@shop.example", "Write to help at shop dot example"),
    ("see www.bikes.example/returns", "see w w w dot bikes dot example slash returns"),
    ("https://example.com/faq", "example dot com slash faq"),
    # abbreviations, days, percentages, ordinals, plain numbers
    ("Mon-Fri, e.g. for returns", "Monday to Friday, for example for returns"),
    ("20% off", "twenty percent off"),
    ("the 21st time", "the twenty-first time"),
    ("within 3 to 5 days", "within three to five days"),
    ("3.5 kg", "three point five kg"),
    ("limit is 2.0m", "limit is two point zero m"),
    ("Terms & conditions", "Terms and conditions"),
    ("We are open 24/7", "We are open twenty-four seven"),
    # plain words stay as they are
    ("Thank you for calling.", "Thank you for calling."),
]


@pytest.mark.parametrize("text, words", CASES)
def test_customer_answers_are_read_as_a_person_would(text, words):
    assert spoken_text(text) == words


def test_slashed_dates_follow_the_reading_convention():
    assert spoken_text("on 3/4/2026") == "on March fourth, twenty twenty-six"
    assert spoken_text("on 3/4/2026", ReadingConfig(month_first=False)) == "on April third, twenty twenty-six"


@pytest.mark.parametrize("number, words", [(0, "zero"), (13, "thirteen"), (40, "forty"), (99, "ninety-nine"),
                                           (101, "one hundred one"), (1000, "one thousand"),
                                           (2_000_005, "two million five")])
def test_cardinals(number, words):
    assert cardinal(number) == words


@pytest.mark.parametrize("number, words", [(1, "first"), (2, "second"), (3, "third"), (12, "twelfth"),
                                           (20, "twentieth"), (22, "twenty-second"), (100, "one hundredth")])
def test_ordinals(number, words):
    assert ordinal(number) == words


@pytest.mark.parametrize("number, words", [(2026, "twenty twenty-six"), (2005, "two thousand five"),
                                           (1999, "nineteen ninety-nine"), (1900, "nineteen hundred"),
                                           (2000, "two thousand"), (1905, "nineteen oh five")])
def test_years(number, words):
    assert year(number) == words
