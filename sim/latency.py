"""Latency measurement of `tsmfpga sim` without extra whole clip sets.

The main run streams every clip back to back (bit-exactness, interval). The latency as a camera
sees it needs frames *offered at a fixed period*; two such runs follow:

* **steady**: frames every ``period`` (the measured interval) cycles. It needs the pipeline to
  fill (``ceil(L / period) + 1`` frames, L from the main run, which over-estimates it: there the
  input runs ahead while FIFOs fill) and then as many steady frames again, so
  ``2 * (fill + 1)`` frames, rounded up to whole clips (clip-start state and bit-exactness stay
  per whole clip). If the latency has not settled in that run (:func:`split_warmup` fails), it is
  run again on *all* clips, the previous behaviour, so the check is never weaker.
* **isolated**: one frame in flight at a time; every frame sees an empty pipeline, so a few
  frames show it (:data:`ISOLATED_FRAMES`, whole clips).

Every frame of every run has its latency measured and every run's outputs are compared with the
HW graph (the clips it ran).
"""

from __future__ import annotations

#: frames of the isolated-latency run (rounded up to whole clips)
ISOLATED_FRAMES = 4


def split_warmup(latencies: list[int], period: int) -> tuple[int, bool, int]:
    """Warm-up frames, derived from the measured sequence: the frames before the latency reached
    the value it keeps to the end. Returns (warm-up frames, steady?, bound). The latency is fixed
    when at least half the frames (and 2) keep the final value and the warm-up either ends within
    ``bound`` = ceil(max latency / period) + 1 frames (the pipeline's fill: the frames in flight
    when a frame enters, plus that one) or rises monotonically to the final value (the FIFOs in
    front of a stage marginally slower than the period filling up: each frame waits a little
    longer than the one before until they are full). Anything else is not a fixed latency."""
    if not latencies:
        return 0, False, 0
    bound = fill_bound(latencies, period)
    k = len(latencies)
    while k > 0 and latencies[k - 1] == latencies[-1]:
        k -= 1
    steady = len(latencies) - k
    filling = all(a <= b for a, b in zip(latencies[:k], latencies[1:k + 1]))
    return k, (k <= bound or filling) and steady >= max(2, len(latencies) // 2), bound


def fill_bound(latencies: list[int], period: int) -> int:
    """Frames in flight when a frame enters, plus that one: ceil(max latency / period) + 1."""
    return -(-max(latencies, default=0) // max(period, 1)) + 1


def clips_for(frames: int, t_frames: int, n_clips: int) -> int:
    """Whole clips covering ``frames`` frames (at least 1, at most ``n_clips``)."""
    return max(1, min(n_clips, -(-frames // max(t_frames, 1))))


def steady_clips(main_latencies: list[int], period: int, t_frames: int, n_clips: int) -> int:
    """Clips of the steady-latency run: the fill (bounded with the main run's latencies) twice."""
    return clips_for(2 * (fill_bound(main_latencies, period) + 1), t_frames, n_clips)


def isolated_clips(t_frames: int, n_clips: int) -> int:
    return clips_for(ISOLATED_FRAMES, t_frames, n_clips)
