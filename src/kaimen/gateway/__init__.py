"""The API gateway: pure ASGI middleware in front of every API, in the order DESIGN.md gives.

Entry            interaction id, client IP, which API is called, security headers on every
                 response; emits api.call.completed (audit, metrics, access log) when the call ends
ErrorBoundary    ApiError -> the API family's error body; anything else -> a bare 500
RequestLimits    body size, header size/count, JSON depth
Identify         the caller, from the x-api-key header
TierPolicy       the API's tier admits the caller's application
RateLimit        per application and per client IP
ResponseCache    ETag / 304 and cached bodies for Product API GETs
"""
