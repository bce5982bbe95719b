"""The query functions with CRANTb semantics (Qt-free)."""
