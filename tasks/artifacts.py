"""Tasks of the artifacts domain."""
