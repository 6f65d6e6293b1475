"""Security building blocks: admin bearer tokens and safe paths inside project folders."""
