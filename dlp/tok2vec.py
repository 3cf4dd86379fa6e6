"""The NER model's token-to-vector layers in straight numpy calls: the same arithmetic as
thinc's layers, the same weights, without thinc's per-layer overhead.

What it saves: thinc runs each layer through its generic machinery (``chain``,
``with_array``, ``concatenate``, ``residual``, ragged and list conversions, a ``Model``
call per node), ~0.7 ms a call however short the text. On the windows of
``bench/dlp/names.py``'s ~1 KB prompts (seed 42, ~70 tokens and six windows a prompt,
p50 of one run at load ~2.6): the token-to-vector layers 2.23 -> 1.89 ms, the whole model
call 3.19 -> 2.61 ms. What is left is mostly the five matrix products (~0.2 ms each at
~100 rows, BLIS near the core's peak) and the transition steps: the model's cost now is
the tokens it reads. spaCy's small English pipelines all use one architecture here
(``spacy.Tok2Vec.v2``: ``MultiHashEmbed`` of NORM, PREFIX, SUFFIX and SHAPE,
``MaxoutWindowEncoder`` with a window of one, then the parser's ``linear`` projection);
``FastTok2Vec.of`` recognises it by its layer names and weights, and anything else keeps
thinc's layers (``None``).

Same arithmetic, in the same order, through the same BLIS and Cython kernels
(``ops.hash``, ``ops.gather_add``, ``ops.gemm``, ``ops.seq2col``): the outputs are the
stock layers' to the bit (``tests/dlp/test_nerrun.py`` checks it on prose, and that the
entities are the same). Docs are joined with ``pad`` zero rows between them as
``with_array`` does, so no doc's vectors see another's.

Where it does less than thinc, every step is row by row, so leaving rows out or moving
columns changes no value (a row of a BLIS product does not depend on the other rows; a
row's mean and variance neither): the last layer computes only the docs' rows, not the
padding rows between them (a fifth of its rows on a prompt's windows); a maxout's
weights are stored piece-major, so its pieces are three column blocks whose maximum is
two ``numpy.maximum`` calls instead of thinc's ``maxout`` (which also returns the
argmax); layer norm computes ``x - mean`` once, where ``numpy.var`` computes it again.
On ``bench/dlp/names.py``'s windows (seed 42, 2026-12-03, CPU p50 per
~1 KB prompt, same run): 1.67 -> 1.41 ms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy

#: The tok2vec chain of spaCy's ``TransitionBasedParser.v2`` over ``Tok2Vec.v2`` with
#: ``MultiHashEmbed`` (four attributes) and ``MaxoutWindowEncoder`` (depth 4, window 1),
#: as its layer names spell it: what ``FastTok2Vec`` reproduces.
_ARCHITECTURE = (
    "extract_features>>list2ragged>>with_array("
    + "|".join(["ints-getitem>>hashembed"] * 4)
    + ")>>with_array(maxout>>layernorm>>dropout)>>ragged2list>>with_array("
    + ">>".join(["residual(expand_window>>maxout>>layernorm>>dropout)"] * 4)
    + ")>>list2array>>linear"
)

type Array = Any  # numpy arrays; thinc's types are not worth importing here


class FastTok2Vec:
    """``__call__(docs)`` is the stock tok2vec chain's ``predict(docs)``."""

    def __init__(self, layer: Any) -> None:
        nodes = list(layer.walk())
        self.ops = layer.ops
        extract = next(n for n in nodes if n.name == "extract_features")
        self.columns = list(extract.attrs["columns"])
        embeds = [n for n in nodes if n.name == "hashembed"]
        self.embeds = [(n.get_param("E"), int(n.attrs["seed"])) for n in embeds]
        maxouts = [n for n in nodes if n.name == "maxout"]
        self.maxouts = [
            _pieces_apart(
                self.ops.reshape2f(
                    n.get_param("W"), n.get_dim("nO") * n.get_dim("nP"), n.get_dim("nI")
                ),
                self.ops.reshape1f(n.get_param("b"), n.get_dim("nO") * n.get_dim("nP")),
                n.get_dim("nO"),
                n.get_dim("nP"),
            )
            for n in maxouts
        ]
        norms = [n for n in nodes if n.name == "layernorm"]
        self.norms = [(n.get_param("G"), n.get_param("b")) for n in norms]
        linear = layer.layers[-1]
        self.linear = (linear.get_param("W"), linear.get_param("b"))
        pads = [n.attrs["pad"] for n in nodes if n.name.startswith("with_array(residual")]
        self.pad = int(pads[0])

    @classmethod
    def of(cls, layer: Any) -> FastTok2Vec | None:
        """The fast twin of ``layer`` (the parser's ``tok2vec`` reference), or ``None``
        when ``layer`` is not the architecture this reproduces."""
        if layer.name != _ARCHITECTURE:
            return None
        nodes = list(layer.walk())
        windows = [n.attrs.get("window_size") for n in nodes if n.name == "expand_window"]
        if (
            windows != [1] * 4
            or sum(n.name == "hashembed" for n in nodes) != 4
            or sum(n.name == "maxout" for n in nodes) != 5
            or sum(n.name == "layernorm" for n in nodes) != 5
            or not all(n.has_param(p) for n in nodes for p in n.param_names)
            or [n.attrs["pad"] for n in nodes if n.name.startswith("with_array(residual")] != [4]
        ):
            return None
        return cls(layer)

    def __call__(self, docs: Sequence[Any]) -> Array:
        ops = self.ops
        feats = [d.to_array(self.columns) for d in docs]
        lengths = [len(f) for f in feats if len(f)]
        if not lengths:
            return ops.alloc2f(0, self.linear[0].shape[0])
        ids = numpy.ascontiguousarray(numpy.concatenate(feats), dtype="uint64")
        embedded = [
            ops.gather_add(table, ops.hash(ops.as_contig(ids[:, i]), seed) % table.shape[0])
            for i, (table, seed) in enumerate(self.embeds)
        ]
        x = self._norm(self._maxout(ops.xp.hstack(embedded), 0), 0)
        # as ``with_array(pad=…)``: the docs end to end, ``pad`` zero rows around each
        pad = self.pad
        zeros = numpy.zeros((pad, x.shape[1]), dtype=x.dtype)
        parts: list[Array] = [zeros]
        offset = 0
        for n in lengths:
            parts.append(x[offset : offset + n])
            parts.append(zeros)
            offset += n
        xf = numpy.concatenate(parts)
        # Each layer's row i reads rows i-1, i, i+1 of the layer before, so of the last
        # layer only the docs' rows count: its padding rows are not computed (of the
        # layer before, the padding rows beside the docs would still be, too few to be
        # worth the indexing).
        for layer in range(1, 4):
            xf += self._norm(self._maxout(ops.seq2col(xf, 1), layer), layer)
        rows = _doc_rows(lengths, pad)
        y = xf[rows]
        y += self._norm(self._maxout(_window(xf, rows), 4), 4)
        xf = y
        weights, bias = self.linear
        out = ops.gemm(xf, weights, trans2=True)
        out += bias
        return out

    def _maxout(self, x: Array, layer: int) -> Array:
        weights, bias, n_out, pieces = self.maxouts[layer]
        y = self.ops.gemm(x, weights, trans2=True)
        y += bias
        # the pieces of each output side by side (``_pieces_apart``): the maximum of
        # ``pieces`` column blocks, exactly thinc's ``maxout`` (a maximum is exact)
        best = numpy.maximum(y[:, :n_out], y[:, n_out : 2 * n_out])
        for piece in range(2, pieces):
            numpy.maximum(best, y[:, piece * n_out : (piece + 1) * n_out], out=best)
        return best

    def _norm(self, x: Array, layer: int) -> Array:
        """thinc's ``LayerNorm``: ``(x - mean) * (var + 1e-8) ** -0.5 * G + b``, with
        numpy's ``var`` spelled out so the difference from the mean is computed once
        (the same operations in the same order: the same bits)."""
        gain, bias = self.norms[layer]
        mu = x.mean(axis=1, keepdims=True)
        y = x - mu
        var = numpy.add.reduce(y * y, axis=1, keepdims=True)
        numpy.true_divide(var, numpy.intp(x.shape[1]), out=var, casting="unsafe")
        var += 1e-08
        y *= var ** (-1.0 / 2.0)
        y *= gain
        y += bias
        return y


def _pieces_apart(weights: Array, bias: Array, n_out: int, pieces: int) -> tuple[Any, ...]:
    """A maxout layer's weights with their rows in piece-major order (all outputs' first
    piece, then all second pieces …) instead of thinc's output-major order, so the pieces
    of the product are column blocks: the same dot products, only placed elsewhere."""
    order = numpy.arange(n_out * pieces).reshape(n_out, pieces).T.ravel()
    return (
        numpy.ascontiguousarray(weights[order]),
        numpy.ascontiguousarray(bias[order]),
        n_out,
        pieces,
    )


def _doc_rows(lengths: Sequence[int], pad: int) -> Array:
    """The rows of the docs (of ``lengths`` rows each) in the padded array, in order."""
    ranges = []
    at = pad
    for n in lengths:
        ranges.append(numpy.arange(at, at + n))
        at += n + pad
    return numpy.concatenate(ranges)


def _window(x: Array, rows: Array) -> Array:
    """``seq2col(x, 1)[rows]``: each row with the one before and after it, for rows that
    have both (never the first or last row of the padded array)."""
    return numpy.concatenate((x[rows - 1], x[rows], x[rows + 1]), axis=1)


def install(nlp: Any) -> bool:
    """Put ``FastTok2Vec`` in place of the ``ner`` component's tok2vec layers in ``nlp``
    (a spaCy ``Language`` used only for prediction); ``False`` (nothing changed) when the
    component's architecture is not the one it reproduces."""
    from thinc.api import Model

    model = nlp.get_pipe("ner").model
    if "tok2vec" not in model.ref_names:
        return False
    stock = model.get_ref("tok2vec")
    if model.layers[0] is not stock:
        return False
    fast = FastTok2Vec.of(stock)
    if fast is None:
        return False

    def forward(
        _model: Any, docs: Sequence[Any], is_train: bool
    ) -> tuple[Array, Callable[..., Any]]:
        if is_train:  # finished as is: the gateway never trains; a trainer keeps thinc's layers
            raise NotImplementedError("FastTok2Vec predicts only; train with thinc's layers")
        return fast(docs), _no_backprop

    layer: Model[Any, Any] = Model("fast_tok2vec", forward, dims={"nO": stock.get_dim("nO")})
    layer.attrs["stock"] = stock  # for ``restore``
    model.layers[0] = layer
    model.set_ref("tok2vec", layer)
    return True


def restore(nlp: Any) -> None:
    """Put thinc's layers back (``bench/dlp/names.py`` compares both in one run)."""
    model = nlp.get_pipe("ner").model
    if model.layers[0].name == "fast_tok2vec":
        stock = model.layers[0].attrs["stock"]
        model.layers[0] = stock
        model.set_ref("tok2vec", stock)


def _no_backprop(_: Any) -> Any:
    """The backward pass thinc's ``Model`` contract asks for: never called, since
    ``forward`` refuses ``is_train`` (prediction only, by design)."""
    raise NotImplementedError("FastTok2Vec predicts only")
