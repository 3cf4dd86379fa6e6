"""The contract between the dispatcher (``parse.py``) and one API family's adapter."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .shapes import TextSegment


@dataclass(frozen=True, slots=True)
class Route:
    """An inference endpoint recognized from the request path.

    ``model`` and ``stream`` are what the path says (Azure deployment, Gemini and Bedrock
    model ids and method names); the body may add to them.
    """

    api: str
    model: str | None = None
    stream: bool = False


@dataclass(frozen=True, slots=True)
class Extracted:
    """What an adapter read from the body of a routed request."""

    segments: tuple[TextSegment, ...]
    model: str | None = None
    stream: bool = False


def _never_signed(headers: Mapping[str, str]) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class Adapter:
    """One API family: ``route`` maps POST path segments to a ``Route`` (``None``: not an
    inference endpoint), ``extract`` reads the decoded body (raising ``ShapeError``),
    ``signed_body`` says whether the headers show a signature over the body. A non-empty
    ``form_fields`` means the body is form-encoded and ``extract`` receives those fields,
    each JSON-decoded, as the document."""

    route: Callable[[tuple[str, ...]], Route | None]
    extract: Callable[[Route, dict[str, object]], Extracted]
    signed_body: Callable[[Mapping[str, str]], bool] = _never_signed
    form_fields: tuple[str, ...] = ()
    #: The model policy sees, from the one the body named and the headers (the web apps'
    #: aliases and header-borne ids, ``webmodels.py``); ``None``: as the body named it.
    resolve_model: Callable[[str | None, Mapping[str, str]], str | None] | None = None
