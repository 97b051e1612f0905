"""seedcompile: compile declarative YAML specs into validated SeedConfig fixtures."""

__version__ = "0.1.0"
