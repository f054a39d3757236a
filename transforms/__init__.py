"""Composite PTransforms, per-format readers and metric families of session-features."""
