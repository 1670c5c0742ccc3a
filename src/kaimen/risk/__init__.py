"""The risk engine (issue 5, item 4): scores every payment consent and every payment, from the
customer's own history, velocity per customer and per TPP, the payee, the time of day, the customer's
IP and device, the ``Risk`` block and the consent's age; answers allow | step_up | hold | reject with
every reason readable by an operator.

- ``context``   ConsentContext / PaymentContext: what the caller tells the engine
- ``decision``  Outcome, Signal, RiskDecision: what it answers
- ``rules``     the rules, each a small pure function returning a score and a reason
- ``scoring``   the outcome from the signals (pure)
- ``history``   the customer's past debits and payees, read from CoreBanking
- ``velocity``  sliding-window counters: Redis, the database, or memory (embedded mode)
- ``store``     the deny list, decisions recorded, IPs and devices seen
- ``engine``    RiskEngine (assess_consent, assess_payment) and build_risk_engine
- ``scenarios`` labelled synthetic traffic (normal, account takeover, mule payees, card testing)
- ``replay``    replays a scenario through the rules: precision and recall (``kaimen risk replay``)

Nothing is imported here: kaimen.settings imports ``kaimen.risk.config``.
"""
