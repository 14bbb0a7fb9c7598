"""What the chat process and the faces that read it agree on, beyond its JSON lines. Light: the
faces import it (the process's own module loads the models' modules when it handles a request)."""

from __future__ import annotations

# Written to stderr after the traceback of an error the process reported and served on after, so
# that a face telling how the process died later never quotes that error as the cause.
SERVED_ON = "(the chat process reported this error and serves on)"
