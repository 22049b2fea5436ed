"""What fragpool needs of the ``cython`` module when Cython is not installed: ``compiled``
(for fragpool/_native.py) and the decorators the sources carry for the compiler."""

compiled = False


def annotation_typing(_on: bool):  # noqa: ANN201 - a decorator factory
    """@cython.annotation_typing(True): only the compiler reads it."""
    return lambda func: func
