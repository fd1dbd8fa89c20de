"""Hardware ops, their RTL (``rtl/``), board table and synthesis helpers."""
