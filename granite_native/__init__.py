"""granite-native: a CPU inference runtime for IBM granite-speech-4.1-2b GGUF files."""
from . import _dispatch
from ._dispatch import cpu_info
from .errors import ModelError
from .model import Model
from .tokenizer import Tokenizer
from .transcribe import Transcription

__version__ = "0.1.0"
__all__ = ["cpu_info", "Model", "ModelError", "Tokenizer", "Transcription", "__version__"]

_dispatch.select_at_import()
