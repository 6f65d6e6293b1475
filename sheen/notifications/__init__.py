"""Trust & safety notifications: neutral templates, a database-enforced limit, appeals."""
