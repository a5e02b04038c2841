"""Arrow arrays from Python lists without ``pyarrow.array``.

``pa.array`` first asks whether its input is a pandas object, and the first time it asks, it
imports pandas: 0.5-0.8 s in a task process that never uses pandas (more than landing a
page of a thousand records). Lists of the landed kinds (str, int, float, bool, None) are built
here from buffers instead; any other list still goes to ``pa.array``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

_NONE = type(None)
_NUMBERS = {
    "int16": ("int16", int),
    "int32": ("int32", int),
    "int64": ("int64", int),
    "float": ("float32", float),
    "double": ("float64", float),
}


def from_list(values: list[Any], arrow: pa.DataType) -> pa.Array:
    """``pa.array(values, type=arrow)``; raises ``OverflowError`` for an integer out of range."""
    import numpy as np
    import pyarrow as pa

    kinds = set(map(type, values))
    n = len(values)
    if arrow == pa.string() and kinds <= {str, _NONE}:
        builder = pa.lib.StringBuilder()
        builder.append_values(values)
        return builder.finish()
    number = _NUMBERS.get(str(arrow))
    if number is not None and kinds <= {number[1], _NONE}:
        with np.errstate(over="ignore"):  # a float beyond float32 becomes inf, as in pa.array
            data = np.fromiter((0 if v is None else v for v in values), dtype=number[0], count=n)
    elif arrow == pa.bool_() and kinds <= {bool, _NONE}:
        data = np.packbits(
            np.fromiter((v is True for v in values), dtype=np.bool_, count=n), bitorder="little"
        )
    else:
        return pa.array(values, type=arrow)
    valid = np.fromiter((v is not None for v in values), dtype=np.bool_, count=n)
    nulls = n - int(np.count_nonzero(valid))
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    return pa.Array.from_buffers(arrow, n, [bitmap, pa.py_buffer(data)], null_count=nulls)
