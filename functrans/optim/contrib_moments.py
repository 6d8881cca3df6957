"""Placeholder: filled by a helper this stop."""
__all__ = []
