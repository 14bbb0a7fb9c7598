"""`tuitune serve`: the CLI over HTTP. A REST API, a live event stream and a web dashboard over the
same store and launcher as every other face; it owns no state of its own.

    from tuitune.serve import ServeSettings, create_app
    app = create_app(ServeSettings(token="…"))

FastAPI and uvicorn are imported only here, never by the light commands or the terminal app.
"""

from tuitune.serve.app import create_app
from tuitune.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
