"""The HTTP routes: one module per resource, each handler parse → service or query → answer."""
