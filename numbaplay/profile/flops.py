"""Work counts of one training iteration: GEMM FLOPs exact; compulsory bytes, elementwise FLOPs estimated.

GEMMs (SPEC section 3, `numbaplay/nn/net.py`): an `m x k` by `k x n` product costs `2 m n k` FLOPs.
Per row of a forward pass the GEMMs are the input layer (H x obs), the L-1 hidden layers (H x H) and the
policy head (A x H), for mlp and resmlp alike; the value head is a dot product in a loop, not a GEMM.
The backward pass forms every weight gradient (the same shapes) and every input gradient except the
input layer's, which nothing needs: backward = 2 x forward - 2 H obs per row. So

    forward_gemm_flops(spec, rows)  = 2 rows (H obs + (L-1) H^2 + A H)
    backward_gemm_flops(spec, rows) = 2 rows (H obs + 2 (L-1) H^2 + 2 A H)

Elementwise work (bias, ReLU/GELU, LayerNorm, the value head, softmax, Adam) is an estimate from per-element
operation counts written below; it is reported apart and labelled as such, never mixed into GEMM FLOPs.

Compulsory bytes are a lower bound on memory traffic: every distinct input a phase reads and every output
it writes, counted once per iteration, as if the caches were infinite (activations, which never need to
leave the cache, are not counted; parameters and Adam moments are counted once, not once per step).
"""
from __future__ import annotations

from dataclasses import dataclass

F32 = 4


@dataclass(frozen=True)
class Shape:
    """What the counts need to know about a network: `NetSpec` fields as plain ints."""

    arch: str
    """mlp or resmlp."""
    obs: int
    """Input width."""
    hidden: int
    """Width H."""
    depth: int
    """Depth L."""
    actions: int
    """Policy head size A."""
    n_params: int
    """Length P of the flat parameter vector."""


def shape_of(spec, n_params: int) -> Shape:
    """A `Shape` from a `NetSpec`."""
    return Shape(spec.arch, spec.obs_size, spec.hidden, spec.depth, spec.n_actions, int(n_params))


def forward_gemm_flops(s: Shape, rows: int) -> int:
    """Exact GEMM FLOPs of `forward` on `rows` rows."""
    h = s.hidden
    return 2 * rows * (h * s.obs + (s.depth - 1) * h * h + s.actions * h)


def backward_gemm_flops(s: Shape, rows: int) -> int:
    """Exact GEMM FLOPs of `backward` on `rows` rows (weight gradients plus the input gradients used)."""
    h = s.hidden
    return 2 * rows * (h * s.obs + 2 * (s.depth - 1) * h * h + 2 * s.actions * h)


def forward_elementwise_flops(s: Shape, rows: int) -> int:
    """Estimate: bias + activation per hidden unit, the value head's dot product, LayerNorm for resmlp."""
    h, blocks = s.hidden, s.depth - 1
    if s.arch == "mlp":
        per_row = 2 * h * s.depth
    else:
        # input bias; per block LayerNorm (~8/unit), bias, GELU (~10/unit), residual add; final LayerNorm
        per_row = h + blocks * (8 * h + h + 10 * h + h) + 8 * h
    return rows * (per_row + 2 * h + 2 * s.actions)


def backward_elementwise_flops(s: Shape, rows: int) -> int:
    """Estimate: bias gradients, activation gradients, LayerNorm backward (~12/unit), value head."""
    h, blocks = s.hidden, s.depth - 1
    if s.arch == "mlp":
        per_row = 2 * h * s.depth
    else:
        per_row = h + blocks * (12 * h + h + 14 * h) + 12 * h
    return rows * (per_row + 4 * h + 2 * s.actions)


def head_elementwise_flops(s: Shape, rows: int) -> int:
    """Estimate of the loss and dL/dlogits per row (log-softmax, ratio, entropy): ~12 per action."""
    return rows * 12 * s.actions


def adam_flops(s: Shape, steps: int) -> int:
    """Estimate: norm (2), scale (1), Adam moments and update (~12) per parameter and step."""
    return steps * 15 * s.n_params


def transition_bytes(s: Shape) -> int:
    """One stored transition: observation, legal mask, action, log-prob, value, reward, done."""
    return F32 * s.obs + s.actions + 8 + F32 + F32 + F32 + 1


@dataclass(frozen=True)
class IterationWork:
    """Row counts of one iteration, from which every phase's work follows."""

    games: int
    """Games G played."""
    max_plies: int
    """Longest game (move list length)."""
    transitions: int
    """Learner transitions N."""
    rollout_rows: int
    """Rows through `forward` during the rollout (every move of every game, learner and opponent)."""
    rollout_nets: int
    """Distinct networks the rollout evaluated (learner plus the pool entries that were drawn)."""
    update_rows: int
    """Rows through forward and backward in the update (epochs x N)."""
    update_steps: int
    """Minibatch (Adam) steps."""


def phase_work(s: Shape, w: IterationWork) -> dict[str, dict[str, int]]:
    """Per phase: exact GEMM FLOPs, estimated elementwise FLOPs and compulsory bytes of one iteration."""
    p_bytes = F32 * s.n_params
    row_in = F32 * s.obs + s.actions  # observation and mask of a row
    buffer_row = transition_bytes(s) + 2 * F32  # plus advantage and return
    zero = {"gemm_flops": 0, "elementwise_flops": 0, "bytes": 0}
    return {
        "rollout/inference": {
            "gemm_flops": forward_gemm_flops(s, w.rollout_rows),
            "elementwise_flops": forward_elementwise_flops(s, w.rollout_rows),
            "bytes": w.rollout_nets * p_bytes + w.rollout_rows * (F32 * s.obs + F32 * (s.actions + 1)),
        },
        "rollout/game_logic": {
            "gemm_flops": 0, "elementwise_flops": 0,
            # states read and written, each row's observation and mask written, transitions and moves stored
            "bytes": w.games * 8 * 4 * 2 + w.rollout_rows * row_in + w.transitions * transition_bytes(s)
            + w.games * w.max_plies * 8,
        },
        "gae": {
            "gemm_flops": 0, "elementwise_flops": 8 * w.transitions,
            # read reward, value, done; write advantage, return, normalised advantage
            "bytes": w.transitions * (F32 + F32 + 1 + 3 * F32),
        },
        "update/forward": {
            "gemm_flops": forward_gemm_flops(s, w.update_rows),
            "elementwise_flops": forward_elementwise_flops(s, w.update_rows),
            "bytes": p_bytes + w.transitions * buffer_row,
        },
        "update/backward": {
            "gemm_flops": backward_gemm_flops(s, w.update_rows),
            "elementwise_flops": backward_elementwise_flops(s, w.update_rows)
            + head_elementwise_flops(s, w.update_rows),
            "bytes": 2 * p_bytes,  # parameters read, gradient written
        },
        "update/adam": {
            "gemm_flops": 0, "elementwise_flops": adam_flops(s, w.update_steps),
            "bytes": 7 * p_bytes,  # read params, grad, m, v; write params, m, v
        },
        "update/other": dict(zero),
    }
