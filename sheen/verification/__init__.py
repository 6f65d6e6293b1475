"""Site-migration verification: signed manifests checked against what a site serves."""
