"""Services: the fleet's business logic, called by tasks, the CLI and the sidecar."""
