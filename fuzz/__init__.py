"""Coverage-guided fuzz targets (atheris); see SECURITY.md, "Fuzzing"."""
