"""One face dataset in memory: 48x48 grey faces, their FER2013 labels and a split name each."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIZE = 48


@dataclass
class FaceDataset:
    images: np.ndarray  # (N, 48, 48) uint8
    labels: np.ndarray  # (N,) int64, 0..6
    splits: np.ndarray  # (N,) str: Training / PublicTest / PrivateTest, or Training / Test for folders
    source: str

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def split_names(self) -> list[str]:
        return sorted(set(self.splits.tolist()))

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Images and labels of one split; a clear error when the split is absent or empty."""
        mask = self.splits == name
        if not mask.any():
            raise ValueError(f"{self.source}: split {name!r} is empty or missing "
                             f"(available: {', '.join(self.split_names) or 'none'}).")
        return self.images[mask], self.labels[mask]
