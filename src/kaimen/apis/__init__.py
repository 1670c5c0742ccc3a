"""The APIs behind the gateway: product (Open Data v2); later accounts, payments, funds."""
