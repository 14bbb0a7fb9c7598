"""The app's stylesheet: Textual's, keeping the rules it parsed for as long as the theme's variables
stay the same.

Textual parses every CSS source again (app.tcss and each widget's DEFAULT_CSS) whenever it refreshes
the CSS: when the theme is set, when a mode's first screen is added, when a screen whose styles are
older is shown. Before the first frame that was four parses of app.tcss, each as slow as the first
(10–20 ms here). A source parsed with the same variables gives the same rules, so they are kept
until the variables change (another theme), when everything is parsed again as before.
"""

from __future__ import annotations

from textual.css.stylesheet import Stylesheet


class KeptStylesheet(Stylesheet):
    """A `Stylesheet` whose parse cache survives a refresh that changes nothing."""

    def set_variables(self, variables: dict[str, str]) -> None:
        # Textual empties its parse cache here, even when the variables are the ones it parsed with.
        if variables != self._variables:
            super().set_variables(variables)

    def reparse(self) -> None:
        # Textual reparses into a fresh stylesheet with an empty cache; `parse` reads every source
        # again too, from the cache where the text and variables are unchanged. On an error it
        # raises before replacing the rules, so the stylesheet stays as it was, as Textual's does.
        self.parse()
