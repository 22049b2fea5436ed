"""Coverage-guided fuzz targets (atheris), one module per target; see fuzz/run.py."""
