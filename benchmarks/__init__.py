"""Benchmarks: `make bench` prints figures; they are not tests and never gate CI."""
