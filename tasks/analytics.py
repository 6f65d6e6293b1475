"""Tasks of the analytics domain."""
