"""Benchmarks of tgpipe (not part of the test suite). Entry point: ``bench/pipeline.py``."""
