"""juanji.optim: optimizers and learning-rate schedules."""
__all__: list[str] = []
