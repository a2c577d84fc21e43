"""Prompts (spec section 6): instructions per task and the two chat templates.

The base template is `USER: <|audio|>{instruction}\\n ASSISTANT:` (4.1-2b base, 4.0-1b); the
plus template wraps the same turn in control tokens after a system turn. The whole prompt is
tokenized as one string with special tokens atomic, so no template token is lost (CrispASR
drops the newline for custom instructions); the single audio placeholder is then expanded to
one id per projector output row.
"""
from dataclasses import dataclass

AUDIO = "<|audio|>"
BASE_TEMPLATE = "USER: {audio}{instruction}\n ASSISTANT:"
PLUS_TEMPLATE = ("<|start_of_role|>system<|end_of_role|>{system}<|end_of_text|>\n"
                 "<|start_of_role|>user<|end_of_role|>{audio}{instruction}<|end_of_text|>\n"
                 "<|start_of_role|>assistant<|end_of_role|>")
DEFAULT_SYSTEM = ("You are a helpful assistant. Please ensure responses are professional, "
                  "accurate, and safe.")

TASKS = ("transcribe", "translate")
LANGUAGES = {"en": "English", "fr": "French", "de": "German", "es": "Spanish",
             "pt": "Portuguese", "ja": "Japanese"}

# The model card's instructions.
INSTRUCTIONS = {
    ("transcribe", False): "can you transcribe the speech into a written format?",
    ("transcribe", True): "transcribe the speech with proper punctuation and capitalization.",
    ("translate", False): "translate the speech to English.",
    ("translate", True): "translate the speech to English with proper punctuation and capitalization.",
}


@dataclass(frozen=True)
class Prompt:
    text: str          # the template with one audio placeholder
    instruction: str


def instruction_for(task="transcribe", punctuate=False, language=None, keywords=None,
                    instruction=None):
    """The instruction text for a task; `instruction` overrides it verbatim."""
    if instruction is not None:
        if not instruction.strip():
            raise ValueError("custom instruction is empty")
        text = instruction
    else:
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
        if language is not None and language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}; expected one of {', '.join(LANGUAGES)}")
        if task == "transcribe" and language and language != "en" and not punctuate:
            text = f"can you transcribe the speech into {LANGUAGES[language]}?"
        else:
            text = INSTRUCTIONS[(task, bool(punctuate))]
    if keywords:
        words = [k.strip() for k in keywords]
        if not all(words) or any("," in k for k in words):
            raise ValueError("keywords must be non-empty and contain no commas")
        text += " Keywords: " + ",".join(words)
    return text


def build(instruction, plus=False, system=DEFAULT_SYSTEM):
    """The prompt text around one audio placeholder."""
    if plus:
        text = PLUS_TEMPLATE.format(system=system, audio=AUDIO, instruction=instruction)
    else:
        text = BASE_TEMPLATE.format(audio=AUDIO, instruction=instruction)
    return Prompt(text, instruction)


def expand_audio(ids, audio_id, n_audio):
    """Replace the single audio placeholder id with n_audio copies."""
    where = [i for i, t in enumerate(ids) if t == audio_id]
    if len(where) != 1:
        raise ValueError(f"prompt must hold exactly one audio placeholder, found {len(where)}")
    i = where[0]
    return list(ids[:i]) + [audio_id] * n_audio + list(ids[i + 1:])
