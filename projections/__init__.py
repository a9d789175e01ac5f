"""Read models built from the notification log: what each event does to each view, the views'
storage on SQLite and PostgreSQL, and their queries."""
