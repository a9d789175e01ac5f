"""Background work on dramatiq: the broker set-up, thin actors, and the deadline scheduler."""
