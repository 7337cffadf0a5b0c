"""What the API tests compare responses with: the problem media type and an id nothing has."""

PROBLEM = "application/problem+json"
"""The media type of every error response (RFC 9457); assert with ``startswith``."""

MISSING = "00000000-0000-0000-0000-00000000abcd"
"""A well-formed UUID that names nothing: its resources answer 404."""
