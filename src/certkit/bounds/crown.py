"""CROWN / DeepPoly: back-substitution for every ReLU input, then for the output rows.

Nodes are visited in topological order. Every node first gets interval bounds from the
(already tightened) bounds of its inputs. For a node that feeds a ReLU, the neurons those
bounds leave unstable (``l < 0 < u``) are back-substituted to the input -- lower and upper
rows of all of them, for all samples, in one batched pass -- and the result is intersected
with the interval bounds. Neurons the interval bounds already show stable keep them: their
relaxation is exact whatever the numbers, so the output bound is the same as with full
back-substitution. Nodes whose interval bounds are exact (one mixing layer after a box) are
never back-substituted.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .backward import Context, backsubstitute, backsubstitute_chunked, backsubstitute_to, row_width
from .coeffs import Coeffs, Dense, OneHot, take_rows
from .domain import InputDomain
from .graph import Graph
from .relax import Relax, relu_relax
from .result import Interval


def relaxations(graph: Graph, bounds: dict[int, Interval],
                domain: InputDomain) -> dict[int, Relax]:
    """CROWN relaxations of every ReLU from the bounds of its input (and its splits)."""
    return {i: relax_of(domain, bounds, graph.nodes[i].inputs[0]) for i in graph.relu_nodes}


def relax_of(domain: InputDomain, bounds: dict[int, Interval], pre: int) -> Relax:
    """The relaxation of the ReLU fed by node ``pre``."""
    return relu_relax(*bounds[pre], domain.split(pre))


def _checkpoints(graph: Graph, start: int) -> list[int]:
    """ReLU outputs below ``start`` where a partial concretisation can decide neurons.

    Concretising right after the first mixing layer only reproduces interval bounds (which
    left these neurons undecided), so the first checkpoint needs two mixing layers and each
    later one a further mixing layer. Only for chains (every path passes the checkpoint).
    """
    if any(len(n.inputs) != 1 for n in graph.nodes[1 : start + 1]):
        return []
    out, count, need = [], 0, 2
    for j in range(start - 1, 0, -1):
        op = graph.nodes[j + 1].op
        assert op is not None
        count += 0 if op.elementwise else 1
        if graph.nodes[j].op is not None and graph.nodes[j].op.kind == "relu" and count >= need:
            out.append(j)
            count, need = 0, 1
    return out


def write_at(dst: Tensor, slot: Tensor, live: Tensor, val: Tensor) -> Tensor:
    """``dst[b, slot[b, k]] = val[b, k]`` where ``live``; other entries unchanged."""
    n = dst.shape[1]
    target = torch.where(live, slot, torch.full_like(slot, n))
    ext = torch.cat([dst, dst.new_zeros(dst.shape[0], 1)], 1)
    return ext.scatter(1, target, val)[:, :n]


def _staged(ctx: Context, bounds: dict[int, Interval], start: int, idx: Tensor, valid: Tensor,
            stops: list[int]) -> Interval:
    """Bounds of neurons ``idx`` (B, k) of node ``start``, dropping decided ones at ``stops``.

    A neuron is decided once a partial bound (rows concretised over the interval bounds of
    a checkpoint node) shows its sign; its bound is then that partial one, and only the
    undecided rows travel further. Decided neurons are stable, so their relaxation and every
    later bound are the same as with full back-substitution.
    """
    ones = valid.to(ctx.domain.lower.dtype)
    c: Coeffs = OneHot(torch.cat([idx, idx], 1), torch.cat([ones, -ones], 1),
                       ctx.graph.nodes[start].shape)
    b, k = idx.shape
    slot = torch.arange(k, device=idx.device).expand(b, k)
    live = valid
    res_lo = torch.full((b, k), -float("inf"), dtype=ones.dtype, device=ones.device)
    res_hi = torch.full_like(res_lo, float("inf"))
    bias: Tensor | None = None
    at = start
    for stop in [*stops, 0]:
        c, add = backsubstitute_to(ctx, at, c, stop)
        at = stop
        if add is not None:
            bias = add if bias is None else bias + add
        dom = ctx.domain if stop == 0 else InputDomain(*bounds[stop])
        part = dom.lower_bound(c)
        part = part if bias is None else part + bias
        cur = part.shape[1] // 2
        plo, phi = part[:, :cur], -part[:, cur:]
        res_lo, res_hi = write_at(res_lo, slot, live, plo), write_at(res_hi, slot, live, phi)
        if stop == 0:
            break
        keep = live & (plo < 0) & (phi > 0)
        left = int(keep.sum(dim=1).max())
        if left == 0:
            break
        if left < cur:
            order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)[:, :left]
            both = torch.cat([order, order + cur], 1)
            c = take_rows(c, both)
            bias = None if bias is None else bias.gather(1, both)
            slot, live = slot.gather(1, order), keep.gather(1, order)
        else:  # decided rows travel on with the others but keep their bound, so that a
            live = keep  # sample's bounds do not depend on the rest of its batch
    return res_lo, res_hi


def tighten(ctx: Context, bounds: dict[int, Interval], i: int, lo: Tensor, hi: Tensor,
             mask: Tensor, budget: int, early: bool) -> Interval:
    """Back-substitute the neurons of node ``i`` selected by ``mask``; intersect the bounds."""
    b = lo.shape[0]
    m = mask.reshape(b, -1)
    counts = m.sum(dim=1)
    r = int(counts.max()) if b else 0
    if r == 0:
        return lo, hi
    order = torch.argsort((~m).to(torch.int8), dim=1, stable=True)[:, :r]
    valid = torch.arange(r, device=lo.device).unsqueeze(0) < counts.unsqueeze(1)
    probe = OneHot(order[:, :1], valid[:, :1].to(lo.dtype), ctx.graph.nodes[i].shape)
    step = max(1, min(budget // max(1, 2 * b * row_width(ctx.graph, i, probe)), -(-r // 4)))
    stops = _checkpoints(ctx.graph, i) if early else []
    new_lo = torch.full((b, r), -float("inf"), dtype=lo.dtype, device=lo.device)
    new_hi = torch.full_like(new_lo, float("inf"))
    for s in range(0, r, step):
        # only the samples with neurons in this chunk take part
        who = torch.nonzero(counts > s).squeeze(1)
        sub = ctx if who.numel() == b else ctx.take(who)
        sub_bounds = bounds if who.numel() == b else {k: (v[0][who], v[1][who])
                                                      for k, v in bounds.items() if k in stops}
        plo, phi = _staged(sub, sub_bounds, i, order[who, s:s + step], valid[who, s:s + step],
                           stops)
        cols = slice(s, s + plo.shape[1])
        new_lo = new_lo.index_put((who.unsqueeze(1), torch.arange(s, cols.stop,
                                                                 device=lo.device)), plo)
        new_hi = new_hi.index_put((who.unsqueeze(1), torch.arange(s, cols.stop,
                                                                 device=lo.device)), phi)
    lf, hf = lo.reshape(b, -1), hi.reshape(b, -1)
    new_lo = torch.maximum(lf.gather(1, order), new_lo)
    new_hi = torch.minimum(hf.gather(1, order), new_hi)
    lf = write_at(lf, order, valid, new_lo)
    hf = write_at(hf, order, valid, new_hi)
    return lf.view_as(lo), hf.view_as(hi)


def _all_neurons(ctx: Context, i: int, budget: int) -> Interval:
    """CROWN bounds of every neuron of node ``i``: one-hot lower and upper rows, chunked.

    Chunks hold whole maps of positions (for image nodes), so the rows of a chunk stay
    :func:`~certkit.bounds.coeffs.tiled` and share their windows.
    """
    node, b, like = ctx.graph.nodes[i], ctx.domain.batch_size, ctx.domain.lower
    n = node.numel
    group = node.shape[1] * node.shape[2] if len(node.shape) == 3 else 1
    probe = OneHot(torch.zeros(b, 1, dtype=torch.long, device=like.device),
                   torch.ones(b, 1, dtype=like.dtype, device=like.device), node.shape)
    fit = budget // max(1, b * row_width(ctx.graph, i, probe))
    step = max(group, min(fit, -(-n // 2)) // group * group)  # at least 4 chunks
    idx = torch.arange(n, device=like.device).repeat(2)
    val = torch.ones(2 * n, dtype=like.dtype, device=like.device)
    val[n:] = -1.0
    parts = [backsubstitute(ctx, i, OneHot(idx[s:s + step].expand(b, -1).contiguous(),
                                           val[s:s + step].expand(b, -1).contiguous(),
                                           node.shape))
             for s in range(0, 2 * n, step)]
    lbs = torch.cat(parts, 1)
    return lbs[:, :n].view(b, *node.shape), -lbs[:, n:].view(b, *node.shape)


def crown_intermediate(graph: Graph, domain: InputDomain, *, budget: int = 1 << 25
                       ) -> tuple[dict[int, Interval], dict[int, Relax]]:
    """Exact CROWN: every ReLU input back-substituted to the input, never intersected.

    Only a node that is one mixing layer after an affine image of a box (no ReLU between)
    keeps its interval bounds, which then equal the back-substituted ones. Other nodes get
    interval bounds from their inputs' bounds (they decide no relaxation).
    """
    bounds: dict[int, Interval] = {0: (domain.lower, domain.upper)}
    relax: dict[int, Relax] = {}
    mixes = {0: 0 if domain.is_box else 2}  # mixing ops since the box, 2 = too many or a ReLU
    pre = graph.pre_activations
    ctx = Context(graph, domain, relax)
    for node in graph.nodes[1 : graph.output + 1]:
        assert node.op is not None
        i, first = node.index, node.inputs[0]
        if node.op.kind == "relu" or len(node.inputs) != 1:
            mixes[i] = 2
        else:
            mixes[i] = min(2, mixes[first] + (0 if node.op.elementwise else 1))
        if i in pre and mixes[i] > 1:
            bounds[i] = domain.clamp(i, *_all_neurons(ctx, i, budget))
        else:
            bounds[i] = domain.clamp(i, *node.op.interval(*(bounds[j] for j in node.inputs)))
        if node.op.kind == "relu":
            relax[i] = relax_of(domain, bounds, first)
    return bounds, relax


def linear_intermediate(graph: Graph, domain: InputDomain, *, full: bool = False,
                        budget: int = 1 << 25, given: dict[int, Interval] | None = None,
                        fixed: set[int] | frozenset[int] = frozenset()
                        ) -> tuple[dict[int, Interval], dict[int, Relax]]:
    """CROWN bounds of every node up to the output, and the ReLU relaxations they give.

    With ``full``, every neuron of a ReLU input is back-substituted (DeepPoly's intermediate
    bounds exactly), not only the unstable ones. ``given``: bounds known to hold on the set
    (e.g. those of a box that a subdomain of branch and bound lies in), intersected in
    before back-substitution, so the neurons they decide are not back-substituted; the
    nodes in ``fixed`` take them as they are (split neurons clamped), with no further work.
    """
    given = given or {}
    bounds: dict[int, Interval] = {0: (domain.lower, domain.upper)}
    relax: dict[int, Relax] = {}
    box = {0: domain.is_box}
    exact = {0: domain.is_box}
    pre = graph.pre_activations
    ctx = Context(graph, domain, relax)
    for node in graph.nodes[1 : graph.output + 1]:
        assert node.op is not None
        i, first = node.index, node.inputs[0]
        if i in fixed:
            bounds[i] = domain.clamp(i, *given[i])
            box[i] = exact[i] = False
            if node.op.kind == "relu":
                relax[i] = relax_of(domain, bounds, first)
            continue
        lo, hi = node.op.interval(*(bounds[j] for j in node.inputs))
        if i in given:
            lo, hi = torch.maximum(lo, given[i][0]), torch.minimum(hi, given[i][1])
        if node.op.elementwise:
            box[i], exact[i] = box[first], exact[first]
        else:
            box[i], exact[i] = False, len(node.inputs) == 1 and box[first]
        if i in pre and not exact[i]:
            mask = torch.ones_like(lo, dtype=torch.bool) if full else (lo < 0) & (hi > 0)
            lo, hi = tighten(ctx, bounds, i, lo, hi, mask, budget, early=not full)
        bounds[i] = domain.clamp(i, lo, hi)
        if node.op.kind == "relu":
            relax[i] = relax_of(domain, bounds, first)
    return bounds, relax


def output_bounds(ctx: Context, C: Tensor | None, which: str, budget: int) -> Interval:
    """Back-substituted bounds of ``C y`` for the output ``y``; unrequested sides are inf."""
    out = ctx.graph.nodes[ctx.graph.output]
    b = ctx.domain.batch_size
    if C is None:
        eye = torch.eye(out.numel, dtype=ctx.domain.lower.dtype, device=ctx.domain.lower.device)
        C = eye.expand(b, -1, -1)
    m = C.shape[1]
    rows = C.reshape(b, m, *out.shape)
    blocks = ([rows] if which != "upper" else []) + ([-rows] if which != "lower" else [])
    lbs = backsubstitute_chunked(ctx, out.index, Dense(torch.cat(blocks, 1)), budget)
    inf = torch.full((b, m), float("inf"), dtype=lbs.dtype, device=lbs.device)
    lower = lbs[:, :m] if which != "upper" else -inf
    upper = -lbs[:, -m:] if which != "lower" else inf
    return lower, upper
