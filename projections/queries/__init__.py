"""Reads the API and the engine's ports answer from the read model, one module per resource."""
