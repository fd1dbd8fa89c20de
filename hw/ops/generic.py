"""Owners of HW ops without RTL of ours or finn-plus' (estimate only): ``LabelSelect`` (top-k on
the host side; folding PE | Labels). Their estimates are finn-plus' own
(``node_res_estimation``: LUT / BRAM / DSP, possibly 0) plus our FF formula; any op type without
an owner gets the same from the fallback :class:`~tsmfpga.hw.ops.owner.OpOwner` (no folding
options: its attributes are kept, its cycles reported)."""

from __future__ import annotations

from tsmfpga.hw.ops.owner import ChannelPEOwner, register


class LabelSelectOwner(ChannelPEOwner):
    op_types = ("LabelSelect",)
    kind = "LabelSelect"
    channels_attr = "Labels"


LABEL_SELECT = register(LabelSelectOwner())
