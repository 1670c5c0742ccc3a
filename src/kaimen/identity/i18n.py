"""Page texts in English and Traditional Chinese, chosen by ``Accept-Language`` (RFC 9110 §12.5.4).

English is the default; ``zh-TW``, ``zh-HK``, ``zh-MO`` and any ``zh-Hant`` tag choose Traditional
Chinese. Protocol ``error_description`` values are never translated (RFC 6749 §5.2): only page text is.
"""

from __future__ import annotations

from typing import Literal

Locale = Literal["en", "zh-Hant"]
HTML_LANG: dict[Locale, str] = {"en": "en", "zh-Hant": "zh-Hant-TW"}
_TRADITIONAL_REGIONS = ("tw", "hk", "mo")


def _locale_of(tag: str) -> Locale | None:
    parts = tag.lower().split("-")
    if parts[0] == "en":
        return "en"
    if parts[0] == "zh" and ("hant" in parts[1:] or any(p in _TRADITIONAL_REGIONS for p in parts[1:])):
        return "zh-Hant"
    return None


def negotiate(accept_language: str | None) -> Locale:
    """The supported locale the client prefers most (by q-value, then order); English otherwise."""
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate((accept_language or "").split(",")[:32]):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, index, tag.strip()))
    for _, _, tag in sorted(ranked):
        locale = _locale_of(tag)
        if locale is not None:
            return locale
    return "en"


TEXTS: dict[str, dict[Locale, str]] = {
    "bank": {"en": "Kaimen Bank", "zh-Hant": "開門銀行"},
    "login.title": {"en": "Log in to your bank", "zh-Hant": "登入您的銀行"},
    "login.intro": {
        "en": "{client} sent you here. Log in to continue; your password is never shared with {client}.",
        "zh-Hant": "{client} 將您轉至此處。請登入以繼續；您的密碼絕不會提供給 {client}。",
    },
    "login.username": {"en": "Username", "zh-Hant": "使用者名稱"},
    "login.password": {"en": "Password", "zh-Hant": "密碼"},
    "continue": {"en": "Continue", "zh-Hant": "繼續"},
    "sca.title": {"en": "Confirm it is you", "zh-Hant": "確認您的身分"},
    "sca.otp": {
        "en": "One-time code from your authenticator app (6 digits)",
        "zh-Hant": "驗證器 App 上的一次性密碼（6 位數字）",
    },
    "sca.or": {"en": "Or", "zh-Hant": "或"},
    "sca.passkey": {"en": "Use a passkey", "zh-Hant": "使用通行金鑰"},
    "sca.passkey_failed": {
        "en": "The passkey could not be used. Try again, or enter a one-time code.",
        "zh-Hant": "無法使用通行金鑰。請再試一次，或輸入一次性密碼。",
    },
    "consent.title": {"en": "{client} asks for your permission", "zh-Hant": "{client} 請求您的授權"},
    "consent.intro": {"en": "{client} would like to:", "zh-Hant": "{client} 希望能夠："},
    "scope.openid": {
        "en": "Know that it is you, by an identifier that is not your bank username.",
        "zh-Hant": "確認是您本人（使用的識別碼並非您的網路銀行使用者名稱）。",
    },
    "scope.accounts": {
        "en": "See information about the accounts you choose: details, balances and transactions.",
        "zh-Hant": "查看您所選帳戶的資訊：帳戶資料、餘額與交易明細。",
    },
    "scope.payments": {
        "en": "Make a payment from your account, for the amount and to the payee you approve.",
        "zh-Hant": "依您核准的金額與收款人，從您的帳戶付款。",
    },
    "scope.fundsconfirmations": {
        "en": "Ask whether your account has enough money for a payment. It learns only yes or no.",
        "zh-Hant": "詢問您的帳戶是否有足夠款項支付一筆付款，只會得知「是」或「否」。",
    },
    "scope.other": {"en": "Other access: {scope}", "zh-Hant": "其他存取權限：{scope}"},
    # The UK OB account-access permission codes (OBReadConsent1 Data.Permissions), in plain words:
    # what the customer lets the TPP see. "Basic" leaves out identifying details; "Detail" includes them.
    "permission.ReadAccountsBasic": {
        "en": "Your account names, types and currencies (without account numbers)",
        "zh-Hant": "您的帳戶名稱、類型與幣別（不含帳號）",
    },
    "permission.ReadAccountsDetail": {
        "en": "Your account names, types and currencies, with sort codes and account numbers",
        "zh-Hant": "您的帳戶名稱、類型與幣別，以及分行代碼與帳號",
    },
    "permission.ReadBalances": {
        "en": "Your account balances and any credit limits",
        "zh-Hant": "您的帳戶餘額及信用額度",
    },
    "permission.ReadTransactionsBasic": {
        "en": "Your transactions: dates, amounts and descriptions (without payee or payer details)",
        "zh-Hant": "您的交易：日期、金額與說明（不含收付款人資料）",
    },
    "permission.ReadTransactionsDetail": {
        "en": "Your transactions, including payee, payer and merchant details and the balance after each",
        "zh-Hant": "您的交易，包含收付款人與商店資料，以及每筆交易後的餘額",
    },
    "permission.ReadTransactionsCredits": {
        "en": "Money coming into your accounts",
        "zh-Hant": "存入您帳戶的款項",
    },
    "permission.ReadTransactionsDebits": {
        "en": "Money going out of your accounts",
        "zh-Hant": "從您帳戶支出的款項",
    },
    "permission.ReadProducts": {
        "en": "Which of the bank's products your accounts are",
        "zh-Hant": "您的帳戶屬於本行的哪一種產品",
    },
    "permission.ReadParty": {
        "en": "The names and details of the account holders",
        "zh-Hant": "帳戶持有人的姓名與資料",
    },
    "permission.ReadPartyPSU": {
        "en": "Your own name and contact details as the bank holds them",
        "zh-Hant": "本行所留存的您的姓名與聯絡資料",
    },
    "permission.ReadBeneficiariesBasic": {
        "en": "The payees you have saved (without their account details)",
        "zh-Hant": "您已儲存的收款人（不含其帳戶資料）",
    },
    "permission.ReadBeneficiariesDetail": {
        "en": "The payees you have saved, with their account details",
        "zh-Hant": "您已儲存的收款人及其帳戶資料",
    },
    "permission.ReadDirectDebits": {"en": "Your direct debits", "zh-Hant": "您的直接扣款授權"},
    "permission.ReadStandingOrdersBasic": {
        "en": "Your standing orders (without payee details)",
        "zh-Hant": "您的定期轉帳（不含收款人資料）",
    },
    "permission.ReadStandingOrdersDetail": {
        "en": "Your standing orders, with payee details",
        "zh-Hant": "您的定期轉帳及收款人資料",
    },
    "permission.ReadScheduledPaymentsBasic": {
        "en": "Your scheduled payments (without payee details)",
        "zh-Hant": "您的預約付款（不含收款人資料）",
    },
    "permission.ReadScheduledPaymentsDetail": {
        "en": "Your scheduled payments, with payee details",
        "zh-Hant": "您的預約付款及收款人資料",
    },
    "permission.ReadStatementsBasic": {
        "en": "Your statements (without amounts)",
        "zh-Hant": "您的對帳單（不含金額）",
    },
    "permission.ReadStatementsDetail": {
        "en": "Your statements, with amounts and statement files",
        "zh-Hant": "您的對帳單，包含金額與對帳單檔案",
    },
    "permission.ReadOffers": {
        "en": "Offers the bank has made to you",
        "zh-Hant": "本行提供給您的優惠",
    },
    "permission.ReadPAN": {"en": "Your full card numbers", "zh-Hant": "您的完整卡號"},
    "consent.pay": {
        "en": "Pay {amount} {currency} to {payee}",
        "zh-Hant": "支付 {amount} {currency} 給 {payee}",
    },
    "consent.payee_account": {"en": "Payee's account: {account}", "zh-Hant": "收款帳戶：{account}"},
    "consent.payment_reference": {"en": "Reference: {reference}", "zh-Hant": "附言：{reference}"},
    # ReadRefundAccount "Yes": the TPP receives Refund.Account (the holder's name, and the sort code and
    # account number as Identification) of the account paid from, so it can refund the customer.
    "consent.refund_account": {
        "en": "{client} will receive the name on the account you pay from, its sort code and its account "
        "number, so that it can refund you.",
        "zh-Hant": "{client} 將取得您付款帳戶的戶名、分行代碼與帳號，以便退款給您。",
    },
    "consent.step_up": {
        "en": "For your security, enter a new one-time code from your authenticator app to approve "
        "this payment.",
        "zh-Hant": "為了您的安全，請輸入驗證器 App 上新的一次性密碼以核准此筆付款。",
    },
    "consent.until": {"en": "Until {date}", "zh-Hant": "有效期限至 {date}"},
    "consent.no_end": {"en": "No end date", "zh-Hant": "無到期日"},
    "consent.reauthorise": {
        "en": "{client} already has this permission and asks you to confirm it again.",
        "zh-Hant": "{client} 已取得此授權，現請您再次確認。",
    },
    "consent.history": {
        "en": "Transactions from {start} to {end}",
        "zh-Hant": "交易期間：{start} 至 {end}",
    },
    "consent.history_from": {"en": "Transactions from {start}", "zh-Hant": "交易期間：自 {start} 起"},
    "consent.history_to": {"en": "Transactions up to {end}", "zh-Hant": "交易期間：至 {end} 為止"},
    "error.consent_gone": {
        "en": "This request can no longer be approved: it was withdrawn or has expired. You can only "
        "deny it.",
        "zh-Hant": "此請求已被撤回或已過期，無法再同意，只能拒絕。",
    },
    "error.step_up": {
        "en": "Enter a new one-time code to approve this payment, or deny it.",
        "zh-Hant": "請輸入新的一次性密碼以核准此筆付款，或選擇拒絕。",
    },
    "error.no_accounts": {
        "en": "None of your accounts can be shared for this request. You can only deny it.",
        "zh-Hant": "您沒有可供此請求分享的帳戶，只能拒絕。",
    },
    "consent.reference": {"en": "Consent reference", "zh-Hant": "授權編號"},
    "consent.accounts": {"en": "Accounts to share", "zh-Hant": "要分享的帳戶"},
    "consent.debtor": {"en": "Pay from", "zh-Hant": "付款帳戶"},
    "consent.details": {"en": "What is asked for", "zh-Hant": "請求的內容"},
    "consent.note": {
        "en": "You can withdraw this permission at any time from your bank.",
        "zh-Hant": "您可以隨時透過本行撤銷此授權。",
    },
    "consent.approve": {"en": "Allow", "zh-Hant": "同意"},
    "consent.deny": {"en": "Deny", "zh-Hant": "拒絕"},
    "dashboard.login.title": {
        "en": "Log in to see who can access your accounts",
        "zh-Hant": "登入以查看誰可存取您的帳戶",
    },
    "dashboard.login.intro": {
        "en": "See every app you have given access to your accounts, and withdraw it at any time.",
        "zh-Hant": "查看您授權存取帳戶的所有應用程式，並可隨時撤銷授權。",
    },
    "dashboard.title": {"en": "Apps with access to your accounts", "zh-Hant": "可存取您帳戶的應用程式"},
    "dashboard.intro": {
        "en": "These apps can see your account information because you allowed it. Withdrawing access "
        "stops the app at once.",
        "zh-Hant": "這些應用程式經您同意，可查看您的帳戶資訊。撤銷授權後，該應用程式將立即無法存取。",
    },
    "dashboard.none": {
        "en": "No app has access to your accounts.",
        "zh-Hant": "目前沒有應用程式可存取您的帳戶。",
    },
    "dashboard.sees": {"en": "It can see:", "zh-Hant": "可查看："},
    "dashboard.accounts": {"en": "For these accounts:", "zh-Hant": "適用帳戶："},
    "dashboard.until": {"en": "Until:", "zh-Hant": "有效期限："},
    "dashboard.no_end": {"en": "no end date", "zh-Hant": "無結束日期"},
    "dashboard.last_used": {"en": "Last used:", "zh-Hant": "上次使用："},
    "dashboard.never": {"en": "never", "zh-Hant": "從未使用"},
    "dashboard.revoke": {"en": "Withdraw access for {client}", "zh-Hant": "撤銷 {client} 的存取權限"},
    "dashboard.logout": {"en": "Log out", "zh-Hant": "登出"},
    "dashboard.account": {"en": "{name} ending {last4}", "zh-Hant": "{name}（末四碼 {last4}）"},
    "dashboard.account_closed": {"en": "An account that is now closed", "zh-Hant": "已結清的帳戶"},
    "dashboard.subtype.CurrentAccount": {"en": "Current account", "zh-Hant": "活期存款帳戶"},
    "dashboard.subtype.Savings": {"en": "Savings account", "zh-Hant": "儲蓄帳戶"},
    "dashboard.subtype.CreditCard": {"en": "Credit card", "zh-Hant": "信用卡"},
    "dashboard.again": {"en": "Log in again", "zh-Hant": "重新登入"},
    "dashboard.error.title": {"en": "Your app access", "zh-Hant": "應用程式存取權限"},
    "dashboard.error.session": {
        "en": "Your session has ended or was not found. Log in again.",
        "zh-Hant": "您的工作階段已結束或不存在。請重新登入。",
    },
    "dashboard.error.gone": {
        "en": "That access was not found, or it has already ended.",
        "zh-Hant": "找不到該項授權，或該授權已結束。",
    },
    "dashboard.error.server": {
        "en": "Something went wrong on our side. Please try again.",
        "zh-Hant": "系統發生錯誤，請再試一次。",
    },
    "signed_in": {"en": "Logged in as {name}", "zh-Hant": "已登入：{name}"},
    "error.title": {"en": "This login cannot continue", "zh-Hant": "無法繼續登入"},
    "error.invalid": {
        "en": "The username or password is not right.",
        "zh-Hant": "使用者名稱或密碼不正確。",
    },
    "error.code": {
        "en": "That code is not right, or it was already used. Wait for the next code and try again.",
        "zh-Hant": "此驗證碼不正確或已被使用。請等待下一組驗證碼後再試一次。",
    },
    "error.passkey": {
        "en": "The passkey could not be verified. Try again, or enter a one-time code.",
        "zh-Hant": "無法驗證通行金鑰。請再試一次，或輸入一次性密碼。",
    },
    "error.locked": {
        "en": "Too many failed attempts: your login is locked. Try again in {minutes} minute(s), "
        "or contact the bank.",
        "zh-Hant": "嘗試失敗次數過多，您的登入已被鎖定。請於 {minutes} 分鐘後再試，或聯絡本行。",
    },
    "error.throttled": {
        "en": "Too many attempts from your network. Wait {seconds} seconds and try again.",
        "zh-Hant": "來自您網路的嘗試次數過多。請等待 {seconds} 秒後再試。",
    },
    "error.csrf": {
        "en": "This form is out of date. Please submit it again.",
        "zh-Hant": "此表單已失效，請重新送出。",
    },
    "error.missing": {"en": "Please fill in every field.", "zh-Hant": "請填寫所有欄位。"},
    "error.decision": {"en": "Choose Allow or Deny.", "zh-Hant": "請選擇「同意」或「拒絕」。"},
    "error.accounts": {
        "en": "Choose at least one of the accounts listed.",
        "zh-Hant": "請從列出的帳戶中至少選擇一個。",
    },
    "error.debtor": {
        "en": "Choose one of the accounts listed to pay from.",
        "zh-Hant": "請從列出的帳戶中選擇付款帳戶。",
    },
    "error.session": {
        "en": "Your login session has expired or was not found. Go back to the application you came "
        "from and start again.",
        "zh-Hant": "您的登入工作階段已過期或不存在。請返回原本的應用程式並重新開始。",
    },
    "error.client": {
        "en": "The application is unknown or not approved by the bank. Go back to the application you "
        "came from.",
        "zh-Hant": "此應用程式不明或未獲銀行核准。請返回原本的應用程式。",
    },
    "error.server": {
        "en": "Something went wrong on our side. Go back to the application and try again.",
        "zh-Hant": "系統發生錯誤。請返回原本的應用程式再試一次。",
    },
}


def text(locale: Locale, key: str, **values: object) -> str:
    """The text of ``key`` in ``locale`` with ``values`` filled in (plain text: the page escapes it)."""
    template = TEXTS[key][locale]
    return template.format(**values) if values else template
