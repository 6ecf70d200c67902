"""A restricted unpickler for the official CIFAR python batches.

The CIFAR files are Python 2 pickles of dicts holding numpy arrays, lists, ints and strings.
Loading them needs three globals (numpy's array reconstructor, ``ndarray`` and ``dtype``);
a few more harmless ones let files re-pickled by Python 3 load too. Every other global
(``os.system``, ``builtins.eval``, arbitrary classes) is refused, so a malicious file cannot
run code.
"""

from __future__ import annotations

import codecs
import io
import pickle
from typing import Any

import numpy as np

_RECONSTRUCT = np.empty(0).__reduce__()[0]  # numpy.(_)core.multiarray._reconstruct
_SCALAR = np.float64(0).__reduce__()[0]  # numpy.(_)core.multiarray.scalar
_FROMBUFFER = np.empty(1).__reduce_ex__(5)[0]  # numpy.(_)core.numeric._frombuffer (protocol 5)


def _latin1_encode(obj: str, encoding: str = "latin1", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as Python 3 protocol-2 pickles use it for bytes: latin-1 only."""
    if encoding.lower().replace("-", "").replace("_", "") not in ("latin1", "iso88591"):
        raise pickle.UnpicklingError(f"forbidden codec {encoding!r}")
    return codecs.encode(obj, "latin1", errors)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_module, "_reconstruct")] = _RECONSTRUCT
    _ALLOWED[(_module, "scalar")] = _SCALAR
for _module in ("numpy.core.numeric", "numpy._core.numeric"):
    _ALLOWED[(_module, "_frombuffer")] = _FROMBUFFER


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals numpy arrays need."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"forbidden global {module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed")


def safe_loads(data: bytes) -> Any:
    """Unpickle ``data`` (Python 2 strings decoded as ``bytes``) with :class:`SafeUnpickler`.

    Raises ``pickle.UnpicklingError`` (or another exception of the pickle machinery) for a
    corrupt or forbidden pickle.
    """
    return SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
