"""Golden model of clip_flags (the per-frame clip-start flag queue), independent of any
testbench or simulator.

Specification: the accelerator input has IN_FRAME_BEATS beats per frame, the op
OP_FRAME_BEATS; frames reach the op in the order they entered. The clip-start flag of a frame
is the tuser of the first beat of that frame at the input (tuser on any other beat means
nothing). The op sees on its tuser, while it is at the first beat of a frame, the flag of that
frame, and on its tlast whether it is at the last beat of its frame. At most ``depth`` frames
may be in flight (started at the input, not yet finished at the op); a frame that starts at
the input while ``depth`` frames are in flight and none finishes at the op in the same cycle
loses its flag and raises the sticky ``overflow``. With stream ids (STREAM_BITS > 0) each frame
also carries the tdest of its first input beat; the op sees the id of its current frame (the
oldest in flight) on op_tdest during all its beats, 0 when none is in flight.

:class:`ClipFlagsModel` is the cycle model the testbench compares with the RTL every cycle:
outputs are functions of the state before a clock edge (no combinational path from this
cycle's handshakes), :meth:`ClipFlagsModel.step` is one clock edge.
"""

from __future__ import annotations

from collections import deque


class ClipFlagsModel:
    def __init__(self, in_frame_beats: int, op_frame_beats: int, depth: int):
        assert in_frame_beats >= 1 and op_frame_beats >= 1 and depth >= 1
        self.in_frame_beats = in_frame_beats
        self.op_frame_beats = op_frame_beats
        self.depth = depth
        self.reset()

    def reset(self) -> None:
        self.in_pos = 0                 # beat index inside the current input frame
        self.op_pos = 0                 # beat index inside the op's current frame
        self.queue: deque[tuple[bool, int]] = deque()   # (flag, stream id) of the frames in flight, oldest first
        self.overflow = False
        self.lost = 0                   # flags dropped on overflow

    # outputs before the next clock edge
    @property
    def op_tuser(self) -> bool:
        return self.op_pos == 0 and bool(self.queue) and self.queue[0][0]

    @property
    def op_tdest(self) -> int:
        return self.queue[0][1] if self.queue else 0

    @property
    def op_tlast(self) -> bool:
        return self.op_pos == self.op_frame_beats - 1

    @property
    def in_flight(self) -> int:
        return len(self.queue)

    def would_overflow(self, in_beat: bool, op_beat: bool) -> bool:
        """Whether a clock edge with these handshakes loses a flag."""
        frame_start = in_beat and self.in_pos == 0
        frame_end = op_beat and self.op_tlast
        return frame_start and len(self.queue) >= self.depth and not frame_end

    def step(self, in_beat: bool, in_tuser: bool, op_beat: bool, in_tdest: int = 0) -> None:
        """One clock edge with the given handshakes."""
        frame_start = in_beat and self.in_pos == 0
        frame_end = op_beat and self.op_tlast
        lose = self.would_overflow(in_beat, op_beat)
        if frame_end and self.queue:
            self.queue.popleft()
        if frame_start:
            if lose:
                self.overflow = True
                self.lost += 1
            else:
                self.queue.append((bool(in_tuser), int(in_tdest)))
        if in_beat:
            self.in_pos = (self.in_pos + 1) % self.in_frame_beats
        if op_beat:
            self.op_pos = (self.op_pos + 1) % self.op_frame_beats
