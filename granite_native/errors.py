"""Exceptions raised by granite_native."""


class ModelError(ValueError):
    """A model file is unusable: names the file and what is wrong with it."""

    def __init__(self, path, problem):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
