"""Fuzzing every file-reading entry point (make test: a fixed-seed share; make fuzz: the rest)."""
