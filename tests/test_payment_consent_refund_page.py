"""The payment consent page tells the customer when the TPP asked for the refund account, so they
approve exactly what it asked for. With the consent's ``Data.ReadRefundAccount`` "Yes", the payment
answers the TPP with the name, sort code and account number of the account the customer pays from
(UK OB v3.1.11 Domestic Payments, "Domestic Payment - Response", Notes; kaimen.apis.payments
.refund_account), so the page says so, naming the TPP (escaped, as everywhere on the page), in
English and in Traditional Chinese; "No" or absent, it says nothing about it. Driven end to end as
tests/test_payments_flow_e2e.py drives the consent page, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from kaimen.settings import Settings
from tests.authz_flow_support import Harness, harness
from tests.fapi_client_support import authorise
from tests.payments_support import consent_body
from tests.test_payments_flow_e2e import SCOPE, alice, payment_consent_of

TPP_NAME = "Fresco <Pay> & Co"
ESCAPED = "Fresco &lt;Pay&gt; &amp; Co"
ENGLISH = (
    f"{ESCAPED} will receive the name on the account you pay from, its sort code and its account "
    "number, so that it can refund you."
)
CHINESE = f"{ESCAPED} 將取得您付款帳戶的戶名、分行代碼與帳號，以便退款給您。"
PAYMENT = {None: "Pay 165.88 GBP to ACME Inc", "zh-TW": "支付 165.88 GBP 給 ACME Inc"}


@pytest.fixture
async def h(make_settings: Callable[..., Settings], database_url: str) -> AsyncIterator[Harness]:
    async with harness(make_settings(database_url=database_url)) as flow:
        yield flow


async def consent_page(h: Harness, read_refund_account: str | None, language: str | None) -> str:
    """The consent page the customer approves, for a payment consent with that ReadRefundAccount."""
    tpp = await h.tpp(client_name=TPP_NAME)
    person, _ = await alice(h)
    sent = consent_body()
    if read_refund_account is not None:
        sent["Data"]["ReadRefundAccount"] = read_refund_account
    consent_id = await payment_consent_of(h, tpp, sent)
    _, page = await authorise(h, tpp, person, consent_id, scope=SCOPE, language=language)
    return page


@pytest.mark.parametrize(("language", "disclosure"), [(None, ENGLISH), ("zh-TW", CHINESE)], ids=["en", "zh"])
async def test_read_refund_account_yes_tells_the_customer_what_the_tpp_will_receive(
    h: Harness, language: str | None, disclosure: str
) -> None:
    page = await consent_page(h, "Yes", language)
    assert f"<li>{disclosure}</li>" in page
    assert PAYMENT[language] in page
    assert TPP_NAME not in page  # the TPP's name is escaped here as in the rest of the page


@pytest.mark.parametrize("language", [None, "zh-TW"])
@pytest.mark.parametrize("read_refund_account", ["No", None])
async def test_read_refund_account_no_or_absent_says_nothing_about_refunds(
    h: Harness, read_refund_account: str | None, language: str | None
) -> None:
    page = await consent_page(h, read_refund_account, language)
    assert ENGLISH not in page and CHINESE not in page
    assert "refund" not in page.lower() and "退款" not in page
    assert PAYMENT[language] in page  # the payment consent page itself, in that language
