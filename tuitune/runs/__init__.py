"""Stored runs, below the engine: look one up and know whether it is alive (`lookup`), its
config and folder files (`files`, `folder`), follow its progress (`feed`), the documents every face
shows of it (`documents`, `results`), how it looks to people (`present`), and runs side by side
(`compare`). Light: the store and the config only, never the training stack."""
