"""Login throttling: failed attempts per account and per client address, in a sliding window.

Only failures count, and a success clears the account's failures; while either bucket is full,
every attempt is refused with 429 + ``Retry-After`` before any password is checked. An attempt
is counted (as a failure) before its password is checked and uncounted if it was right, so
requests sent at once cannot all slip through the check.

The failures live in PostgreSQL (table ``login_failures``), so every API process counts the
same failures against the same limits, and the window runs on the database's clock.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import unicodedata
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from fastapi import Request
from psycopg_pool import ConnectionPool

from api.composition import Container
from domain.kernel import validators as v
from domain.kernel.errors import ValidationError


def normalised_email(email: str) -> str:
    """The address as the login looks it up (``domain.kernel.validators.email``); a text that is no
    address (it can never log in) is NFKC-folded so its variants still share a bucket."""
    try:
        return v.email(email, "/email")
    except ValidationError:
        return unicodedata.normalize("NFKC", email).strip().casefold()


def throttle_secret(settings: Any) -> bytes:
    """The key of the account hashes: derived from the cipher key (shared by every process of
    a deployment), else from the admin token. Changing it only forgets recent failures."""
    base = settings.resolved_cipher_key() or settings.resolved_admin_token()
    return hashlib.sha256(b"platinum login throttle\x00" + base.encode()).digest()


_LOCK_CLASS = 0x4C4F474E  # "LOGN": the login throttle's advisory locks (two-int key space)

# The limit-th most recent failure of a full bucket says when the bucket frees a slot.
_RETRY_AFTER = """
    WITH recent AS (
        SELECT bucket, at, row_number() OVER (PARTITION BY bucket ORDER BY at DESC) AS nth
          FROM login_failures
         WHERE bucket = ANY(%(buckets)s) AND at > now() - make_interval(secs => %(window)s)
    )
    SELECT coalesce(max(extract(epoch FROM
               at + make_interval(secs => %(window)s) - now())), 0)::float8 AS wait
      FROM recent
     WHERE (bucket = %(account)s AND nth = %(per_account)s)
        OR (bucket = %(ip)s AND nth = %(per_ip)s)
"""


@dataclass
class SharedLoginLimiter:
    """Failed logins: ``per_account`` per (tenant, email) and ``per_ip`` per client address
    within ``window_s``, over table ``login_failures``: shared by all API processes.

    ``namespace`` prefixes the buckets (tests give each limiter its own).
    """

    pool: ConnectionPool[Any]
    per_account: int = 5
    per_ip: int = 50
    window_s: float = 900.0
    namespace: str = ""
    secret: bytes = b""

    def account_key(self, tenant: str, email: str) -> str:
        """The account's bucket: an HMAC of (tenant, email), the email normalised exactly as
        the login looks it up (so spellings of one address, e.g. a full-width letter in the
        domain, share one bucket); without the secret, a reader of the table cannot test
        whether an address tried to log in."""
        raw = f"{tenant.strip().lower()}\x00{normalised_email(email)}".encode()
        return hmac.new(self.secret, raw, hashlib.sha256).hexdigest()

    def _buckets(self, account: str, ip: str) -> tuple[str, str]:
        return f"{self.namespace}a:{account}", f"{self.namespace}i:{ip}"

    def attempt(self, account: str, ip: str) -> tuple[int, UUID | None]:
        """Count a login attempt before its password is checked: ``(wait, None)`` when a
        bucket is full (nothing counted; refuse with ``Retry-After: wait``), else
        ``(0, attempt id)``, the attempt counted as a failure until ``succeeded``.

        Attempts on one account or address are serialized (transaction advisory locks, always
        account then address), so N requests sent at once cannot all pass the check.
        """
        a, i = self._buckets(account, ip)
        with self.pool.connection() as conn, conn.transaction():
            # two-int keys of a class of their own: never a projector's leadership lock (one
            # bigint); in a fixed order; never waiting long (a full pool is worse than a 500)
            conn.execute("SET LOCAL lock_timeout = '5s'")
            conn.execute(
                "SELECT pg_advisory_xact_lock(%s, k) FROM"
                " (SELECT DISTINCT hashtext(b) AS k FROM unnest(%s::text[]) AS b ORDER BY 1) s",
                (_LOCK_CLASS, [a, i]),
            )
            row = conn.execute(_RETRY_AFTER, {
                "buckets": [a, i], "account": a, "ip": i, "window": self.window_s,
                "per_account": self.per_account, "per_ip": self.per_ip,
            }).fetchone()  # fmt: skip
            assert row is not None
            wait = math.ceil(max(0.0, float(row["wait"] if isinstance(row, dict) else row[0])))
            if wait:
                return wait, None
            conn.execute(
                "DELETE FROM login_failures WHERE at <= now() - make_interval(secs => %s)"
                " AND starts_with(bucket, %s)",
                (self.window_s, self.namespace),
            )  # expired failures of every bucket go (index on at: cost ~ what expired)
            attempt = uuid4()
            conn.execute("INSERT INTO login_failures (bucket, attempt) VALUES (%s, %s), (%s, %s)",
                         (a, attempt, i, attempt))  # fmt: skip
        return 0, attempt

    def abandoned(self, attempt: UUID) -> None:
        """The attempt ended neither way (an error on our side): it does not count."""
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM login_failures WHERE attempt = %s", (attempt,))

    def succeeded(self, account: str, attempt: UUID) -> None:
        """The password was right: the account's failures go, and this attempt's count."""
        a, _ = self._buckets(account, "")
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM login_failures WHERE bucket = %s OR attempt = %s",
                         (a, attempt))  # fmt: skip


def login_limiter(request: Request) -> SharedLoginLimiter:
    """The app's limiter: shared through PostgreSQL (created on first use; tests may replace
    it)."""
    state = request.app.state
    limiter: SharedLoginLimiter | None = getattr(state, "login_limiter", None)
    if limiter is None:
        container: Container = state.container
        settings = container.settings
        limiter = state.login_limiter = SharedLoginLimiter(
            container.read_pool,
            per_account=settings.login_failures_per_account,
            per_ip=settings.login_failures_per_ip,
            secret=throttle_secret(settings),
        )
    return limiter
