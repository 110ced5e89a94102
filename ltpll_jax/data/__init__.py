"""Data layer: raw sources, long-tailed partial-label subsets, augmentations.

Nothing in this package knows about training methods or devices.
"""
