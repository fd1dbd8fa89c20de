"""Graph transformations of the front end (qonnx ``Transformation`` style).

* :mod:`.temporal_shift` - replace the step graph's explicit shift state by a ``TemporalShift`` op
* :mod:`.temporal_shift_streamline` - streamlining / layout movers that know ``TemporalShift``
* :mod:`.io_prep` - integer (pixel code) graph input, Trunc rounding normalisation
* :mod:`.tsm_frontend` - the ordered sequence QONNX step graph -> FINN HW-layer graph
"""
