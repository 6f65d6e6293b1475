"""Tasks of the verification domain."""
