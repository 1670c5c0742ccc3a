"""Transaction codes the sandbox ledger books with: ISO 20022 bank transaction code family and
sub-family names (OBBankTransactionCodeStructure1 ``Code`` / ``SubCode``) and the bank's own short
codes (ProprietaryBankTransactionCodeStructure1, issued by ``ISSUER``)."""

from __future__ import annotations

from dataclasses import dataclass

from kaimen.ledger.core import BankTransactionCode

ISSUER = "Kaimen Sandbox Bank"

# Families (ISO 20022 ExternalBankTransactionFamily1Code, by name).
RECEIVED_CREDIT_TRANSFERS = "ReceivedCreditTransfers"
ISSUED_CREDIT_TRANSFERS = "IssuedCreditTransfers"
RECEIVED_DIRECT_DEBITS = "ReceivedDirectDebits"
CUSTOMER_CARD_TRANSACTIONS = "CustomerCardTransactions"
MISCELLANEOUS_CREDIT_OPERATIONS = "MiscellaneousCreditOperations"


@dataclass(frozen=True, slots=True)
class EntryCode:
    """How one side of a posting is coded on a statement."""

    bank: BankTransactionCode
    proprietary: str


SALARY_IN = EntryCode(BankTransactionCode(RECEIVED_CREDIT_TRANSFERS, "SalaryPayment"), "BGC")
FASTER_PAYMENT_IN = EntryCode(BankTransactionCode(RECEIVED_CREDIT_TRANSFERS, "DomesticCreditTransfer"), "FPI")
FASTER_PAYMENT_OUT = EntryCode(BankTransactionCode(ISSUED_CREDIT_TRANSFERS, "DomesticCreditTransfer"), "FPO")
STANDING_ORDER_OUT = EntryCode(BankTransactionCode(ISSUED_CREDIT_TRANSFERS, "StandingOrder"), "SO")
DIRECT_DEBIT = EntryCode(BankTransactionCode(RECEIVED_DIRECT_DEBITS, "DirectDebit"), "DD")
DEBIT_CARD = EntryCode(BankTransactionCode(CUSTOMER_CARD_TRANSACTIONS, "PointOfSalePaymentDebitCard"), "POS")
CREDIT_CARD = EntryCode(BankTransactionCode(CUSTOMER_CARD_TRANSACTIONS, "CreditCardPayment"), "POS")
BOOK_TRANSFER_OUT = EntryCode(BankTransactionCode(ISSUED_CREDIT_TRANSFERS, "InternalBookTransfer"), "TFR")
BOOK_TRANSFER_IN = EntryCode(BankTransactionCode(RECEIVED_CREDIT_TRANSFERS, "InternalBookTransfer"), "TFR")
INTEREST = EntryCode(BankTransactionCode(MISCELLANEOUS_CREDIT_OPERATIONS, "Interest"), "INT")
