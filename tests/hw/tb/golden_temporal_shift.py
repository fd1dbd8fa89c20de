"""Golden model of temporal_shift with STREAMS independent streams, on beats, independent of any
testbench or simulator.

Specification: a frame is PIXELS * C/PE beats of PE channels, pixel-major; the first K/PE beats
of each pixel are shifted: the output beat is the same beat of the *previous frame of the same
stream* (zeros when that stream has no previous frame in its clip: after reset or when the frame
starts a clip), every other beat passes through. Frames of different streams interleave in any
order; one stream's state is never touched by another stream's frames.
"""

from __future__ import annotations


class MultiStreamReference:
    def __init__(self, channels: int, shift_channels: int, pe: int):
        self.groups = channels // pe
        self.shift_groups = shift_channels // pe
        self.prev: dict[int, list[int]] = {}

    def reset(self) -> None:
        """The DUT's rst: every stream forgets its previous frame."""
        self.prev.clear()

    def frame(self, stream: int, beats: list[int], clip_start: bool) -> list[int]:
        """Output beats of one input frame of ``stream``."""
        prev = None if clip_start else self.prev.get(stream)
        if prev is None:
            prev = [0] * len(beats)
        self.prev[stream] = list(beats)
        return [prev[n] if n % self.groups < self.shift_groups else b for n, b in enumerate(beats)]
