"""The core-banking side: the ``CoreBanking`` interface (``core``) and the built-in sandbox ledger that
implements it over double-entry postings (``sandbox``, ``posting`` with its rows in ``posting_rows``,
``history``). Nothing outside this package reads the ledger's tables; a bank plugs its own core in behind
``CoreBanking``."""
