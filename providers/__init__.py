"""The catalog of LLM services and their API shapes: which hosts are LLM services, where a
request's text, model and stream flag live, how to rewrite that text, and where answers
report token usage and streamed text. Pure standard library; imports nothing of ours.

Modules: ``catalog`` (``Catalog``, ``Service``), ``services`` (the default services),
``parse`` (``parse_request``), ``rewrite`` (``rewrite_request``), ``responses``
(``parse_usage``), ``streams`` (``stream_parser_for``), ``shapes`` (the result types),
one adapter per API family (``openai``, ``azure``, ``anthropic``, ``gemini``,
``bedrock``, ``webapps``) and the stream decoders (``sse``, ``jsonarray``,
``eventstream``).
"""

from .catalog import Catalog, Service
from .parse import parse_request
from .responses import parse_usage
from .rewrite import rewrite_request
from .shapes import JSON_STRING, ParsedRequest, StreamEvent, TextSegment, Usage
from .streams import StreamParser, stream_parser_for

__all__ = [
    "JSON_STRING",
    "Catalog",
    "ParsedRequest",
    "Service",
    "StreamEvent",
    "StreamParser",
    "TextSegment",
    "Usage",
    "parse_request",
    "parse_usage",
    "rewrite_request",
    "stream_parser_for",
]
