"""The products the sandbox ledger opens accounts under. The current accounts are the ones the demo
bank publishes through the Product API (demo/data/pca.json, same ``Identification``), with their
arranged-overdraft ceilings; savings and credit cards have no Open Data product type, so they are
``ProductType`` Other with an ``OtherProductType``."""

from __future__ import annotations

from dataclasses import dataclass

from kaimen.ledger.core import AccountSubType, CreditLineType, OtherProductType, ProductType


@dataclass(frozen=True, slots=True)
class ProductSpec:
    product_id: str
    name: str
    subtype: AccountSubType
    product_type: ProductType
    other: OtherProductType | None
    max_credit_limit: int  # minor units; 0 when the product has no credit line


PRODUCTS = {
    spec.product_id: spec
    for spec in (
        ProductSpec(
            "KSB-PCA-EVERYDAY",
            "Kaimen Everyday Account",
            AccountSubType.CURRENT_ACCOUNT,
            ProductType.PERSONAL_CURRENT_ACCOUNT,
            None,
            150_000,
        ),
        ProductSpec(
            "KSB-PCA-REWARD",
            "Kaimen Reward Account",
            AccountSubType.CURRENT_ACCOUNT,
            ProductType.PERSONAL_CURRENT_ACCOUNT,
            None,
            250_000,
        ),
        ProductSpec(
            "KSB-SAV-EASY",
            "Kaimen Easy Saver",
            AccountSubType.SAVINGS,
            ProductType.OTHER,
            OtherProductType("Easy access savings", "Instant-access savings account, variable rate."),
            0,
        ),
        ProductSpec(
            "KSB-CC-CLASSIC",
            "Kaimen Classic Credit Card",
            AccountSubType.CREDIT_CARD,
            ProductType.OTHER,
            OtherProductType("Personal credit card", "Visa credit card with a monthly statement."),
            800_000,
        ),
    )
}


def credit_line_type(subtype: AccountSubType) -> CreditLineType:
    """A credit card's limit is a ``Credit`` line; any other account's is an arranged overdraft."""
    return CreditLineType.CREDIT if subtype is AccountSubType.CREDIT_CARD else CreditLineType.PRE_AGREED
