"""Experiment configurations: one file per experiment, built on default.py."""
