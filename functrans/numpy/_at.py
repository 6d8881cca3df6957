"""`x.at[idx].set(v)` and friends: functional index updates."""
from __future__ import annotations


class IndexUpdateHelper:
    def __init__(self, array):
        self.array = array

    def __getitem__(self, idx):
        raise NotImplementedError(".at[] updates are being implemented")
