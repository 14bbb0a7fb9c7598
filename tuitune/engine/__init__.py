"""Training: trainer construction per method, store callbacks, the worker process and its launcher.

`launcher` is light (no torch); everything else imports the training stack when used.
"""
