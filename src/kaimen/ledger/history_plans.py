"""What happens in a demo customer's accounts over the history window (see ``history``): the
customer's habits are drawn from their random stream, then laid out as planned postings."""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta

from kaimen.ledger import codes
from kaimen.ledger.core import CounterpartyAccount, EntryStatus, Merchant
from kaimen.ledger.history_book import AccountState, HistoryBook, Plan, Side
from kaimen.ledger.history_data import CARD_CATEGORIES, EMPLOYERS, LANDLORDS, SUBSCRIPTIONS, UTILITIES
from kaimen.ledger.internal import WORLD

SAVINGS_RATE_BP = 350  # 3.50% a year, paid monthly
CARD_SHARE = 0.35  # share of card purchases a card holder puts on the credit card
CARD_REPAYMENT_DAY = 18


def months(start: date, end: date) -> Iterator[tuple[int, int]]:
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        yield year, month
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def on(year: int, month: int, day: int) -> date:
    """That day of the month, or the month's last day when it is shorter."""
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def working_day_before(day: date) -> date:
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def build(book: HistoryBook) -> None:
    """Open the customer's accounts (a current account; savings, a credit card or both) and lay out
    their history."""
    rng = book.rng
    book.make_party()
    product = rng.choice(("KSB-PCA-EVERYDAY", "KSB-PCA-REWARD"))
    current = book.open(product, ("Main account", "Everyday", "Bills"), (1000, 3650))
    extras = rng.choice((("savings",), ("card",), ("savings", "card")))
    savings = card = None
    if "savings" in extras:
        savings = book.open("KSB-SAV-EASY", ("Rainy day", "Savings", "Holiday fund"), (120, 1000))
    if "card" in extras:
        card = book.open("KSB-CC-CLASSIC", ("Credit card", "Visa"), (120, 1000))
    plan_current(book, current, card)
    if savings is not None:
        plan_savings(book, current, savings)
    if card is not None:
        plan_card(book, current, card)
    book.apply()


def brought_forward(book: HistoryBook, state: AccountState, amount: int) -> None:
    """The balance the account had when the history starts, as one posting against the world."""
    at = datetime.combine(book.start, time(0, 0, 1), UTC)
    side, world = Side(state.account_id, "Balance brought forward"), Side(WORLD, "Balance brought forward")
    if amount > 0:
        book.plans.append(Plan(at, "opening", world, side, amount))
    elif amount < 0:
        book.plans.append(Plan(at, "opening", side, world, -amount))


def card_purchase(
    book: HistoryBook, at: datetime, account: AccountState, merchant: Merchant, amount: int, credit: bool
) -> None:
    """A card purchase; those of the last day are still pending."""
    status = EntryStatus.PENDING if at.date() == book.end else EntryStatus.BOOKED
    info = f"{merchant.name.upper()} {book.party['town_name'].upper()}"
    code = codes.CREDIT_CARD if credit else codes.DEBIT_CARD
    book.plans.append(
        Plan(
            at,
            "card",
            Side(account.account_id, info, code, merchant=merchant),
            Side(WORLD, info),
            amount,
            status,
        )
    )


def transfer(
    book: HistoryBook,
    at: datetime,
    debtor: AccountState,
    creditor: AccountState,
    amount: int | Callable[[], int],
    info: str,
) -> None:
    """A transfer between the customer's own accounts."""
    book.plans.append(
        Plan(
            at,
            "transfer",
            Side(debtor.account_id, info, codes.BOOK_TRANSFER_OUT, book.own_account(creditor)),
            Side(creditor.account_id, info, codes.BOOK_TRANSFER_IN, book.own_account(debtor)),
            amount,
            reference=info,
        )
    )


def plan_current(book: HistoryBook, current: AccountState, card: AccountState | None) -> None:
    rng = book.rng
    brought_forward(book, current, rng.randrange(80_000, 450_000))
    employer = book.outside_account(rng.choice(EMPLOYERS))
    salary, payday = rng.randrange(210_000, 420_000), rng.choice((15, 25, 28))
    landlord = book.outside_account(rng.choice(LANDLORDS))
    rent, rent_day = rng.randrange(85_000, 160_000), rng.choice((1, 2, 3))
    bills = [
        (payee, rng.randrange(low, high), rng.randrange(1, 28), collected, str(rng.randrange(10**9, 10**10)))
        for _kind, payee, low, high, collected in UTILITIES
    ]
    subscriptions = rng.sample(SUBSCRIPTIONS, rng.randrange(1, len(SUBSCRIPTIONS) + 1))
    subscription_days = [rng.randrange(1, 28) for _ in subscriptions]
    for year, month in months(book.start, book.end):
        tag = calendar.month_abbr[month].upper()
        day = working_day_before(on(year, month, payday))
        if book.in_window(day):
            info = f"{employer.name} SALARY"
            book.plans.append(
                Plan(
                    book.at(day, 5 * 60, 6 * 60),
                    "salary",
                    Side(WORLD, info),
                    Side(current.account_id, info, codes.SALARY_IN, employer),
                    salary,
                    reference=f"SALARY {tag}",
                )
            )
        day = on(year, month, rent_day)
        if book.in_window(day):
            info = f"{landlord.name} RENT"
            book.plans.append(
                Plan(
                    book.at(day, 6 * 60, 7 * 60),
                    "rent",
                    Side(current.account_id, info, codes.STANDING_ORDER_OUT, landlord),
                    Side(WORLD, info),
                    rent,
                    reference=f"RENT {tag}",
                )
            )
        for payee, amount, bill_day, collected, mandate in bills:
            day = on(year, month, bill_day)
            if book.in_window(day) and (collected is None or month in collected):
                payer = Side(
                    current.account_id,
                    payee.upper(),
                    codes.DIRECT_DEBIT,
                    CounterpartyAccount(None, None, payee),
                )
                book.plans.append(
                    Plan(
                        book.at(day, 4 * 60, 6 * 60),
                        "utility",
                        payer,
                        Side(WORLD, payee),
                        amount,
                        reference=mandate,
                    )
                )
        for (mcc, service, amount), sub_day in zip(subscriptions, subscription_days, strict=True):
            day = on(year, month, sub_day)
            if book.in_window(day):
                card_purchase(
                    book,
                    book.at(day, 0, 60),
                    card or current,
                    Merchant(service, mcc),
                    amount,
                    card is not None,
                )
    habits = {habit for habit in ("car", "commute") if rng.random() < 0.6}
    categories = [c for c in CARD_CATEGORIES if c.needs is None or c.needs in habits]
    weights = [c.weight for c in categories]
    for day in book.days():
        for _ in range(rng.choices((0, 1, 2, 3), weights=(2, 4, 3, 1))[0]):
            category = rng.choices(categories, weights=weights)[0]
            on_card = card is not None and rng.random() < CARD_SHARE
            merchant = Merchant(rng.choice(category.merchants), category.mcc)
            amount = rng.randrange(category.low, category.high)
            card_purchase(
                book, book.at(day), card if on_card and card else current, merchant, amount, on_card
            )


def plan_savings(book: HistoryBook, current: AccountState, savings: AccountState) -> None:
    rng = book.rng
    brought_forward(book, savings, rng.randrange(100_000, 1_500_000))
    monthly, day_of_month = rng.randrange(10_000, 50_000), rng.choice((2, 26, 29))

    def interest() -> int:
        return max(0, savings.booked) * SAVINGS_RATE_BP // 120_000

    for year, month in months(book.start, book.end):
        day = on(year, month, day_of_month)
        if book.in_window(day):
            transfer(book, book.at(day, 9 * 60, 10 * 60), current, savings, monthly, "MONTHLY SAVING")
        month_end = on(year, month, 31)
        if book.in_window(month_end):
            at = datetime.combine(month_end, time(23, 0), UTC)
            paid = Side(savings.account_id, "INTEREST PAID", codes.INTEREST)
            book.plans.append(Plan(at, "interest", Side(WORLD, "INTEREST"), paid, interest))


def plan_card(book: HistoryBook, current: AccountState, card: AccountState) -> None:
    brought_forward(book, card, -book.rng.randrange(0, 60_000))

    def owed() -> int:
        return max(0, -card.booked)

    for year, month in months(book.start, book.end):
        day = on(year, month, CARD_REPAYMENT_DAY)
        if book.in_window(day):
            transfer(book, book.at(day, 6 * 60, 7 * 60), current, card, owed, "CREDIT CARD REPAYMENT")
