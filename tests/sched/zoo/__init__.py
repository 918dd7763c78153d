"""Small bounded buffers written as students write them, one classic bug each (plus correct ones).

Each module defines ``BoundedBuffer(capacity)`` with blocking ``put(item)`` / ``get()`` and imports
only ``threading`` and ``collections``; the module docstring names the bug.
"""
