"""The HTTP API and command line: the one package that wires domain, engine and projections."""
