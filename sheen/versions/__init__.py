"""Version history: restoring a project's working directory from a stored version archive."""
