"""Reads the API and the engine's ports answer from the read model, one module per resource.

Each function takes a connection the caller opened (the API's tenant-fenced transaction,
``api/readdb.py: tenant_tx``, so row-level security answers for one tenant) and typed
parameters, and returns rows as dicts (or ``None`` when there is no such row).
"""
