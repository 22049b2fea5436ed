"""What fragpool/_native.py needs of the ``cython`` module when Cython is not installed."""

compiled = False
