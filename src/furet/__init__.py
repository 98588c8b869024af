"""furet: large-scale visual search and interactive learning of visual classes."""

from furet.errors import FuretError
from furet.library import Collection, Furet, open
from furet.settings import Settings

__all__ = ["Collection", "Furet", "FuretError", "Settings", "open"]
__version__ = "0.1.0"
