"""Tasks of the notifications domain."""
