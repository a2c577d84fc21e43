"""A loaded granite_speech model: hyperparameters, validated weights and a thread pool."""
import os

from . import _native
from .cpus import usable_cpus
from .gguf_file import open_gguf
from .hparams import read_hparams
from .weights import load_weights


class Model:
    """Opens and validates a granite_speech GGUF. Tensor data stays in the file's memory map.

    threads: kernel threads, by default every CPU this process may use.
    Raises granite_native.ModelError when the file is not a usable model.
    """

    def __init__(self, path, threads=None):
        self.path = os.fspath(path)
        self.gguf = open_gguf(self.path)
        self.file_size = os.path.getsize(self.path)
        self.hparams = read_hparams(self.path, self.gguf)
        self.weights = load_weights(self.path, self.gguf, self.hparams)
        self.pool = _native.ThreadPool(usable_cpus() if threads is None else threads)

    def close(self):
        """Stops the threads. The mapping goes away once no tensor view is left."""
        self.pool.close()
        self.weights = None
        self.gguf = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
