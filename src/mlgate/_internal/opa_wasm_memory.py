"""Workaround for opa-py-wasm 1.2.1: the host memory is created too small for OPA v1.22 modules.

opa-py-wasm creates the ``env.memory`` it hands to the module with
``opapywasm.runtime._DEFAULT_MEMORY_PAGES`` (2) initial pages. A module built by OPA v1.22
declares its memory import with a minimum of 3 pages, and wasmtime refuses the link
("memory types incompatible") before the library's own grow-and-retry loop can help (that loop
only handles an out-of-bounds trap during instantiation).

The fix: before a policy is built, raise that module-level default to the minimum the module
declares (read from the compiled module's imports). It only ever grows, so modules that need
less are unaffected. ``tests/test_wasm_backend.py::test_memory_workaround_still_needed`` fails
as soon as an opa-py-wasm release instantiates the module without it: then delete this file.
"""

from __future__ import annotations

import threading

from opapywasm import runtime as _runtime

_LOCK = threading.Lock()


def _uleb(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def declared_memory_minimum(wasm: bytes) -> int:
    """The minimum page count of the module's ``env.memory`` import (0 if it has none).

    Read from the binary's import section (WebAssembly core spec 5.5.5), so the module is
    not compiled a second time just to learn one number.
    """
    if wasm[:4] != b"\0asm":
        raise ValueError("not a WebAssembly module")
    pos = 8
    while pos < len(wasm):
        section, pos = wasm[pos], pos + 1
        size, pos = _uleb(wasm, pos)
        if section != 2:
            pos += size
            continue
        count, pos = _uleb(wasm, pos)
        for _ in range(count):
            names = []
            for _ in range(2):
                length, pos = _uleb(wasm, pos)
                names.append(wasm[pos : pos + length])
                pos += length
            kind, pos = wasm[pos], pos + 1
            if kind == 0:  # function: type index
                _, pos = _uleb(wasm, pos)
            elif kind == 1:  # table: reftype, limits
                flags, pos = wasm[pos + 1], pos + 2
                _, pos = _uleb(wasm, pos)
                if flags & 1:
                    _, pos = _uleb(wasm, pos)
            elif kind == 2:  # memory: limits
                flags, pos = wasm[pos], pos + 1
                minimum, pos = _uleb(wasm, pos)
                if names == [b"env", b"memory"]:
                    return minimum
                if flags & 1:
                    _, pos = _uleb(wasm, pos)
            else:  # global: valtype, mutability
                pos += 2
        return 0
    return 0


def library_initial_pages() -> int:
    """The initial page count opa-py-wasm gives the host memory right now."""
    return int(_runtime._DEFAULT_MEMORY_PAGES)


def ensure_initial_pages(pages: int) -> None:
    """Makes opa-py-wasm create host memories of at least ``pages`` pages."""
    with _LOCK:
        if pages > _runtime._DEFAULT_MEMORY_PAGES:
            _runtime._DEFAULT_MEMORY_PAGES = pages
