"""Why the ledger refused. The API layers map these to their own errors (UK OB codes live there).

LedgerError
 ├── AccountNotFound        no such account for this customer (another customer's is "not found" too)
 ├── PartyNotFound          the customer holds no party record at this bank
 └── PostingRefused         a transfer was not posted, and nothing was written
      ├── InvalidPosting        amount not positive, debtor credits itself, currency differs
      ├── InsufficientFunds     available funds incl. any credit line would go negative
      └── ReferenceConflict     the posting reference was used for a different transfer
"""

from __future__ import annotations

from kaimen.ledger.money import Money


class LedgerError(Exception):
    pass


class AccountNotFound(LedgerError):
    def __init__(self, account_id: str) -> None:
        super().__init__(f"account not found: {account_id}")
        self.account_id = account_id


class PartyNotFound(LedgerError):
    pass


class PostingRefused(LedgerError):
    pass


class InvalidPosting(PostingRefused):
    pass


class InsufficientFunds(PostingRefused):
    def __init__(self, account_id: str, available: Money, requested: Money) -> None:
        super().__init__(f"insufficient funds on {account_id}")
        self.account_id = account_id
        self.available = available
        self.requested = requested


class ReferenceConflict(PostingRefused):
    def __init__(self, reference: str) -> None:
        super().__init__(f"posting reference already used for another transfer: {reference}")
        self.reference = reference
