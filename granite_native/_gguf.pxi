# The inner loop of reading a GGUF string array (gguf_file.py): a real vocabulary and its
# merges are 200k length-prefixed strings, about ten times faster to walk here than in Python.
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport uint64_t


def gguf_strings(const uint8_t[::1] buf, Py_ssize_t pos, Py_ssize_t count):
    """Up to `count` GGUF strings (little-endian uint64 length, then UTF-8 bytes) from
    buf[pos:]: (list of str, position after the last one read). The list is short when an
    element runs past the end of buf or is not UTF-8; the position is then that element's."""
    cdef Py_ssize_t size = buf.shape[0], i
    cdef uint64_t n
    cdef int b
    if pos < 0 or pos > size or count < 0:
        raise ValueError(f"gguf_strings: position {pos} or count {count} outside the buffer")
    out = []
    for i in range(count):
        if size - pos < 8:
            break
        n = 0
        for b in range(8):
            n |= (<uint64_t>buf[pos + b]) << (8 * b)
        if n > <uint64_t>(size - pos - 8):
            break
        try:
            s = PyUnicode_DecodeUTF8(<const char *>&buf[pos + 8], <Py_ssize_t>n, NULL)
        except UnicodeDecodeError:
            break
        out.append(s)
        pos += 8 + <Py_ssize_t>n
    return out, pos
