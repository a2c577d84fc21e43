"""granite-native: a CPU inference runtime for IBM granite-speech-4.1-2b GGUF files."""
from . import _dispatch
from ._dispatch import cpu_info
from .errors import ModelError
from .model import Model

__version__ = "0.1.0"
__all__ = ["cpu_info", "Model", "ModelError", "__version__"]

_dispatch.select_at_import()
