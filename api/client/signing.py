"""What the sender of a hook delivery signs: the ``X-Platinum-*`` headers of a body.

The API checks ``X-Platinum-Signature: sha256=<hex HMAC-SHA256>`` under the hook's secret of
``timestamp + "." + raw body``, a timestamp within 300 s of its clock, and takes
``X-Platinum-Delivery`` as the delivery's id (a retry sends the same one and starts no
second run). See docs/api.md, "Signed webhooks".
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid


def sign_delivery(
    secret: str, body: bytes, delivery_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    """The headers that make ``body`` a valid delivery for the hook of ``secret``
    (``delivery_id``: a fresh one unless given; ``timestamp``: now unless given)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {
        "X-Platinum-Timestamp": ts,
        "X-Platinum-Delivery": delivery_id or f"client-{uuid.uuid4()}",
        "X-Platinum-Signature": f"sha256={digest}",
    }
