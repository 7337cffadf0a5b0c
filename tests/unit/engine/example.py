"""The DSL spec's example definition, shared by tests."""

from __future__ import annotations

from typing import Any

EXAMPLE: dict[str, Any] = {
    "name": "order-approval",
    "description": "Approve large orders, ship, tell the customer.",
    "input_schema": {
        "type": "object",
        "required": ["order_url"],
        "properties": {"order_url": {"type": "string"}},
    },
    "defaults": {
        "timeout_s": 30,
        "retry": {
            "max_attempts": 3,
            "initial_interval_s": 0.5,
            "multiplier": 2.0,
            "max_interval_s": 30,
            "jitter": True,
        },
    },
    "steps": [
        {"id": "fetch", "uses": "http", "with": {"method": "GET", "url": "${{ input.order_url }}"}},
        {
            "id": "small", "uses": "noop", "needs": ["fetch"],
            "if": "steps.fetch.output.body.total < 1000",
        },
        {
            "id": "approve", "uses": "approval", "needs": ["fetch"],
            "if": "steps.fetch.output.body.total >= 1000", "with": {"role": "manager"},
            "timeout_s": 86400,
        },
        {
            "id": "ship", "uses": "http", "needs": ["small", "approve"], "trigger": "any_success",
            "with": {
                "method": "POST", "url": "http://127.0.0.1:9000/ship",
                "json": {"order": "${{ steps.fetch.output.body.id }}"},
            },
        },
        {
            "id": "tell", "uses": "notify", "needs": ["ship"],
            "with": {
                "channel": "email", "to_user": "${{ run.started_by }}", "title": "Shipped",
                "message": "Order ${{ steps.fetch.output.body.id }} shipped",
            },
        },
        {
            "id": "each_line", "uses": "transform", "needs": ["fetch"],
            "foreach": "${{ steps.fetch.output.body.lines }}",
            "with": {"sku": "${{ item.sku }}", "n": "${{ index }}"},
        },
    ],
    "output": {"shipped": "${{ steps.ship.status == 'succeeded' }}"},
}  # fmt: skip
