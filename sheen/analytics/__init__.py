"""Migration analytics: step events with trace context and their roll-up."""
