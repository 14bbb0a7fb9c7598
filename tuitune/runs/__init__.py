"""Stored runs, below the engine: the documents every face shows of a run, its folder's files, and
runs side by side. Light: the store and the config only, never the training stack."""
