"""The slow, obviously correct twin of the whole numbaplay algorithm, in plain Python and NumPy.

Everything here follows `../shared/SPEC.md` and `docs/ALGORITHM.md` to the letter and is written to be read,
not to be fast: explicit loops over plies, games and rows, one function per formula. The fast Numba kernels
(`numbaplay/`) and the C reference (`c_reference/`) are both tested against it, so this module imports
nothing from `numbaplay` except its error classes.

Precision, stated per function in its docstring:
- float64 wherever the spec leaves the precision open (network forward/backward, losses, gradients), so
  that the twin is the "true" value the float32 implementations approximate;
- float32 exactly where SPEC/ALGORITHM pin float32 arithmetic (sampling, `logp_old` and value in the
  rollout, GAE, advantage normalisation output, gradient clipping of a float32 gradient, Adam), written as
  one IEEE single operation at a time so that results are comparable at ulp level. A float32
  `exp`/`log`/`tanh` is the float64 function rounded once to float32 (`_exp32` and friends): the correctly
  rounded value in all but vanishingly rare near-tie cases, which any libm `expf` matches within 1 ulp.

Conventions: `spec = (arch, obs_size, H, L, A)` with arch 0 = mlp, 1 = resmlp; games 0 = Tic-Tac-Toe,
1 = Connect Four. Boards are plain Python lists of cells (0 empty, 1 first player, 2 second player),
deliberately not bitboards, so that the game logic is independent of the fast code.
"""
from __future__ import annotations

import math

import numpy as np

from numbaplay.errors import PositionError

# ---------------------------------------------------------------------------------------------------------
# Random streams (SPEC section 5): counter-based SplitMix64, Python ints masked to 64 bits.
# ---------------------------------------------------------------------------------------------------------
MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
INIT, OPPONENT, LEARNER_ACTION, OPPONENT_ACTION, SHUFFLE, EVAL, CURRICULUM = 1, 2, 3, 4, 5, 6, 7


def mix(z):
    """SplitMix64 finalizer on a 64-bit unsigned integer (wrapping arithmetic)."""
    z = int(z) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def stream_key(seed, purpose, iteration, index):
    """`mix(mix(mix(mix(seed) ^ purpose) ^ iteration) ^ index)`; negative ints taken modulo 2^64."""
    key = mix(int(seed) & MASK64)
    key = mix(key ^ (int(purpose) & MASK64))
    key = mix(key ^ (int(iteration) & MASK64))
    return mix(key ^ (int(index) & MASK64))


def draw(seed, purpose, iteration, index, n):
    """Draw n (0-based) of stream (purpose, iteration, index): `mix(key + (n + 1) * GOLDEN)`, uint64."""
    key = stream_key(seed, purpose, iteration, index)
    return mix((key + ((int(n) + 1) * GOLDEN)) & MASK64)


def uniform(seed, purpose, iteration, index, n):
    """`(draw >> 11) * 2^-53`, a float64 in [0, 1) (exact: 53 bits times a power of two)."""
    return (draw(seed, purpose, iteration, index, n) >> 11) * 2.0**-53


def below(k, seed, purpose, iteration, index, n):
    """An integer in [0, k): `min(floor(u * k), k - 1)` with u the uniform of that draw (float64 product)."""
    u = uniform(seed, purpose, iteration, index, n)
    return min(math.floor(u * k), int(k) - 1)


def permutation(N, seed, iteration, epoch):
    """SHUFFLE permutation of range(N) for (iteration, epoch): Fisher-Yates from i = N - 1 down to 1, swapping
    i with `below(i + 1)` taken from draw `N - 1 - i` of stream (SHUFFLE, iteration, epoch)."""
    perm = list(range(N))
    for i in range(N - 1, 0, -1):
        j = below(i + 1, seed, SHUFFLE, iteration, epoch, N - 1 - i)
        perm[i], perm[j] = perm[j], perm[i]
    return np.array(perm, dtype=np.int64)


# ---------------------------------------------------------------------------------------------------------
# Games (SPEC sections 1, 2): plain lists of cells.
# ---------------------------------------------------------------------------------------------------------
TICTACTOE, CONNECT4 = 0, 1
ROWS, COLS = 6, 7                      # Connect Four
N_CELLS = {TICTACTOE: 9, CONNECT4: 42}
N_ACTIONS = {TICTACTOE: 9, CONNECT4: 7}
OBS_SIZE = {TICTACTOE: 18, CONNECT4: 84}
ONGOING, FIRST_WON, SECOND_WON, DRAW = 0, 1, 2, 3


def _lines(game):
    """Every winning line as a tuple of cell indices (TTT cell = row-major from top-left; C4 = row*7+col)."""
    if game == TICTACTOE:
        rows = [(3 * r, 3 * r + 1, 3 * r + 2) for r in range(3)]
        cols = [(c, c + 3, c + 6) for c in range(3)]
        return rows + cols + [(0, 4, 8), (2, 4, 6)]
    lines = []
    for r in range(ROWS):
        for c in range(COLS):
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                cells = [(r + k * dr, c + k * dc) for k in range(4)]
                if all(0 <= rr < ROWS and 0 <= cc < COLS for rr, cc in cells):
                    lines.append(tuple(rr * COLS + cc for rr, cc in cells))
    return lines


LINES = {TICTACTOE: _lines(TICTACTOE), CONNECT4: _lines(CONNECT4)}   # 8 and 69 lines


def new_board(game):
    """The empty board: a list of N_CELLS zeros."""
    return [0] * N_CELLS[game]


def ply_of(board):
    """Number of stones on the board (= plies played)."""
    return sum(1 for cell in board if cell != 0)


def side_to_move(board):
    """1 if the first player moves (even ply), else 2."""
    return 1 if ply_of(board) % 2 == 0 else 2


def winner(game, board):
    """0 ongoing, 1 first player has a line, 2 second player has a line, 3 full board without a line."""
    won = set()
    for line in LINES[game]:
        owner = board[line[0]]
        if owner != 0 and all(board[c] == owner for c in line):
            won.add(owner)
    if len(won) > 1:
        raise ValueError("both players have a line: not a reachable position")
    if won:
        return won.pop()
    return DRAW if all(cell != 0 for cell in board) else ONGOING


def legal_mask(game, board):
    """uint8[A], 1 where the move is legal; all 0 at a terminal position."""
    mask = np.zeros(N_ACTIONS[game], dtype=np.uint8)
    if winner(game, board) != ONGOING:
        return mask
    for a in range(N_ACTIONS[game]):
        if game == TICTACTOE:
            mask[a] = board[a] == 0
        else:
            mask[a] = board[(ROWS - 1) * COLS + a] == 0   # top cell of the column is empty
    return mask


def play(game, board, action):
    """A new board with `action` played by the side to move; ValueError on an illegal move."""
    if not (0 <= action < N_ACTIONS[game] and legal_mask(game, board)[action]):
        raise ValueError(f"illegal move {action}")
    board = list(board)
    if game == TICTACTOE:
        board[action] = side_to_move(board)
        return board
    row = next(r for r in range(ROWS) if board[r * COLS + action] == 0)   # lowest empty row
    board[row * COLS + action] = side_to_move(board)
    return board


def observe(game, board):
    """float32[obs_size]: planes from the side to move, `obs[c]` own stone, `obs[n_cells + c]` opponent's."""
    n = N_CELLS[game]
    me = side_to_move(board)
    obs = np.zeros(2 * n, dtype=np.float32)
    for c in range(n):
        if board[c] == me:
            obs[c] = 1.0
        elif board[c] != 0:
            obs[n + c] = 1.0
    return obs


def replay(game, moves):
    """Play `moves` (0-based actions) from the empty board. Returns (masks uint8[len+1, A], obs
    float32[len+1, obs_size], status int64[len+1]), row p describing the position before move p (the last
    row the final position)."""
    board = new_board(game)
    masks, obs, status = [], [], []
    for p in range(len(moves) + 1):
        masks.append(legal_mask(game, board))
        obs.append(observe(game, board))
        status.append(winner(game, board))
        if p < len(moves):
            board = play(game, board, moves[p])
    return np.array(masks, dtype=np.uint8), np.array(obs, dtype=np.float32), np.array(status, dtype=np.int64)


def parse_position(game, text):
    """Position notation (SPEC section 1) -> 0-based moves; PositionError names the char and 1-based ply."""
    board = new_board(game)
    moves = []
    for ply, ch in enumerate(text, start=1):
        if not ("1" <= ch <= "9") or int(ch) > N_ACTIONS[game]:
            raise PositionError(f"invalid move {ch!r} at ply {ply}")
        action = int(ch) - 1
        if winner(game, board) != ONGOING:
            raise PositionError(f"move {ch!r} at ply {ply} after the game ended")
        if not legal_mask(game, board)[action]:
            raise PositionError(f"illegal move {ch!r} at ply {ply}")
        board = play(game, board, action)
        moves.append(action)
    return moves


# ---------------------------------------------------------------------------------------------------------
# Network (SPEC section 3): flat parameter vector, float64 forward and manual backward.
# ---------------------------------------------------------------------------------------------------------
MLP, RESMLP = 0, 1
LN_EPS = 1e-5
GELU_K = float(np.float32(2.0 * math.sqrt(2.0 / math.pi)))   # rounded once to float32 (about 1.5957691)
GELU_C = 0.044715
GELU_DC = 0.134145                                           # 3 * 0.044715, as SPEC writes it


def param_layout(spec):
    """[(name, shape, offset)] in SPEC section 3 order; W is (out, in) row-major; offsets cumulative."""
    arch, obs_size, H, L, A = spec
    shapes = []
    if arch == MLP:
        for k in range(L):
            fan_in = obs_size if k == 0 else H
            shapes += [(f"fc{k}.W", (H, fan_in)), (f"fc{k}.b", (H,))]
    elif arch == RESMLP:
        shapes += [("in.W", (H, obs_size)), ("in.b", (H,))]
        for k in range(1, L):
            shapes += [(f"blk{k}.ln.g", (H,)), (f"blk{k}.ln.b", (H,)),
                       (f"blk{k}.W", (H, H)), (f"blk{k}.b", (H,))]
        shapes += [("out_ln.g", (H,)), ("out_ln.b", (H,))]
    else:
        raise ValueError(f"unknown arch {arch}")
    shapes += [("pi.W", (A, H)), ("pi.b", (A,)), ("v.W", (1, H)), ("v.b", (1,))]
    layout, offset = [], 0
    for name, shape in shapes:
        layout.append((name, shape, offset))
        offset += int(np.prod(shape))
    return layout


def n_params(spec):
    """Length of the flat parameter vector."""
    _, shape, offset = param_layout(spec)[-1]
    return offset + int(np.prod(shape))


def unpack(params, spec, dtype=np.float64):
    """{name: array of its shape} (copies in `dtype`) from a flat vector."""
    flat = np.asarray(params, dtype=dtype)
    return {name: flat[off:off + int(np.prod(shape))].reshape(shape)
            for name, shape, off in param_layout(spec)}


def pack(tensors, spec, dtype=np.float64):
    """The inverse of `unpack`: a flat vector in layout order."""
    return np.concatenate([np.asarray(tensors[name], dtype=dtype).ravel()
                           for name, _, _ in param_layout(spec)])


def _fan_in(name, spec):
    """fan_in of the layer a W or hidden bias belongs to; None for LayerNorm and head biases (not uniform)."""
    obs_size, H = spec[1], spec[2]
    if name.endswith((".ln.g", ".ln.b")) or name.startswith("out_ln") or name in ("pi.b", "v.b"):
        return None
    if name in ("fc0.W", "fc0.b", "in.W", "in.b"):
        return obs_size
    return H


def init_params(spec, seed):
    """float32[P] initial parameters (SPEC section 3). The parameter at flat offset i uses draw i of stream
    (INIT, 0, 0): W and hidden b are `float32((2u - 1) * b)` with `b = 1/sqrt(fan_in)` in float64; LayerNorm
    g = 1, b = 0; pi.b = v.b = 0; then pi.W is multiplied by float32(0.01) in float32. LayerNorm and head
    biases do not consume draws out of turn: offset i always means draw i."""
    params = np.zeros(n_params(spec), dtype=np.float32)
    for name, shape, off in param_layout(spec):
        size = int(np.prod(shape))
        fan_in = _fan_in(name, spec)
        for i in range(off, off + size):
            if fan_in is not None:
                bound = 1.0 / math.sqrt(fan_in)
                params[i] = np.float32((2.0 * uniform(seed, INIT, 0, 0, i) - 1.0) * bound)
            elif name.endswith("g"):
                params[i] = np.float32(1.0)
        if name == "pi.W":
            params[off:off + size] = params[off:off + size] * np.float32(0.01)   # float32 * float32
    return params


def gelu(x):
    """`x / (1 + exp(-k (x + 0.044715 x^3)))` in float64; overflow of exp gives x / inf = -0 (no warning)."""
    with np.errstate(over="ignore", under="ignore"):
        return x / (1.0 + np.exp(-GELU_K * (x + GELU_C * x**3)))


def gelu_grad(x):
    """`s + x s (1 - s) k (1 + 0.134145 x^2)`, s = sigmoid(k (x + 0.044715 x^3)), float64."""
    with np.errstate(over="ignore", under="ignore"):
        s = 1.0 / (1.0 + np.exp(-GELU_K * (x + GELU_C * x**3)))
    return s + x * s * (1.0 - s) * GELU_K * (1.0 + GELU_DC * x**2)


def layer_norm(x, g, b):
    """Row-wise LayerNorm, float64: mean, then variance in a second pass; returns (y, xhat, sigma)."""
    mu = x.mean(axis=1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=1, keepdims=True)
    sigma = np.sqrt(var + LN_EPS)
    xhat = (x - mu) / sigma
    return g * xhat + b, xhat, sigma


def layer_norm_backward(dy, g, xhat, sigma):
    """Returns (dx, dg, db) of `y = g xhat + b` with xhat the normalised x, float64."""
    dxhat = dy * g
    dx = (dxhat - dxhat.mean(axis=1, keepdims=True)
          - xhat * (dxhat * xhat).mean(axis=1, keepdims=True)) / sigma
    return dx, (dy * xhat).sum(axis=0), dy.sum(axis=0)


def forward_cache(params, spec, obs):
    """Float64 forward of a batch obs[n, obs_size]. Returns (logits[n, A], value[n], cache for `backward`).
    float32 parameters are widened exactly; float64 parameters (finite differences) are used as given."""
    arch, L = spec[0], spec[3]
    t = unpack(params, spec)
    x = np.atleast_2d(np.asarray(obs, dtype=np.float64))
    cache = {"x": x, "layers": []}
    h = x
    if arch == MLP:
        for k in range(L):
            pre = h @ t[f"fc{k}.W"].T + t[f"fc{k}.b"]
            cache["layers"].append((h, pre))
            h = np.maximum(pre, 0.0)
    else:
        h = x @ t["in.W"].T + t["in.b"]
        for k in range(1, L):
            y, xhat, sigma = layer_norm(h, t[f"blk{k}.ln.g"], t[f"blk{k}.ln.b"])
            pre = y @ t[f"blk{k}.W"].T + t[f"blk{k}.b"]
            cache["layers"].append((y, xhat, sigma, pre))
            h = h + gelu(pre)
        h, xhat, sigma = layer_norm(h, t["out_ln.g"], t["out_ln.b"])
        cache["out_ln"] = (xhat, sigma)
    logits = h @ t["pi.W"].T + t["pi.b"]
    value = np.tanh(h @ t["v.W"][0] + t["v.b"][0])
    cache["h"], cache["value"] = h, value
    return logits, value, cache


def forward(params, spec, obs):
    """(logits, value) in float64; obs may be one row (then logits[A], value a float) or a batch."""
    logits, value, _ = forward_cache(params, spec, obs)
    if np.ndim(obs) == 1:
        return logits[0], float(value[0])
    return logits, value


def backward(params, spec, cache, d_logits, d_value):
    """float64[P] gradient of a loss from dL/dlogits[n, A] and dL/dvalue[n] (tanh chained here)."""
    arch, L = spec[0], spec[3]
    t = unpack(params, spec)
    g = {}
    h, value = cache["h"], cache["value"]
    du = d_value * (1.0 - value**2)
    g["pi.W"] = d_logits.T @ h
    g["pi.b"] = d_logits.sum(axis=0)
    g["v.W"] = (du @ h)[None, :]
    g["v.b"] = np.array([du.sum()])
    dh = d_logits @ t["pi.W"] + np.outer(du, t["v.W"][0])
    if arch == MLP:
        for k in range(L - 1, -1, -1):
            h_in, pre = cache["layers"][k]
            dpre = np.where(pre > 0.0, dh, 0.0)
            g[f"fc{k}.W"] = dpre.T @ h_in
            g[f"fc{k}.b"] = dpre.sum(axis=0)
            dh = dpre @ t[f"fc{k}.W"]
    else:
        xhat, sigma = cache["out_ln"]
        dh, g["out_ln.g"], g["out_ln.b"] = layer_norm_backward(dh, t["out_ln.g"], xhat, sigma)
        for k in range(L - 1, 0, -1):
            y, xhat, sigma, pre = cache["layers"][k - 1]
            dpre = dh * gelu_grad(pre)
            g[f"blk{k}.W"] = dpre.T @ y
            g[f"blk{k}.b"] = dpre.sum(axis=0)
            dx, g[f"blk{k}.ln.g"], g[f"blk{k}.ln.b"] = layer_norm_backward(
                dpre @ t[f"blk{k}.W"], t[f"blk{k}.ln.g"], xhat, sigma)
            dh = dh + dx                                     # residual: both paths reach the block input
        g["in.W"] = dh.T @ cache["x"]
        g["in.b"] = dh.sum(axis=0)
    return pack(g, spec)


# ---------------------------------------------------------------------------------------------------------
# Masked policy (SPEC section 4, ALGORITHM "Actions").
# ---------------------------------------------------------------------------------------------------------
def _exp32(x):
    """float32 exp: the float64 exp of a float32 value, rounded once to float32."""
    return np.float32(math.exp(float(x)))


def _log32(x):
    """float32 log: the float64 log of a float32 value, rounded once to float32."""
    return np.float32(math.log(float(x)))


def _tanh32(x):
    """float32 tanh: the float64 tanh of a float32 value, rounded once to float32."""
    return np.float32(math.tanh(float(x)))


def _check_mask(mask):
    mask = np.asarray(mask).astype(bool)
    if not mask.any(axis=-1).all():
        raise ValueError("a row has no legal action (terminal positions have no policy)")
    return mask


def masked_log_softmax(logits, mask):
    """float64 log p over the legal actions (row-wise for 2-D input): `(l_a - m) - z`, m the max legal logit,
    `z = log sum_legal exp(l_b - m)`. Illegal entries are -inf (chosen by a select), so exp gives p = 0."""
    mask = _check_mask(mask)
    lg = np.asarray(logits, dtype=np.float64)
    m = np.where(mask, lg, -np.inf).max(axis=-1, keepdims=True)
    shifted = np.where(mask, lg - m, -np.inf)
    z = np.log(np.where(mask, np.exp(shifted), 0.0).sum(axis=-1, keepdims=True))
    return np.where(mask, shifted - z, -np.inf)


def masked_softmax(logits, mask):
    """float64 probabilities, exactly 0 on illegal actions."""
    return np.where(_check_mask(mask), np.exp(masked_log_softmax(logits, mask)), 0.0)


def masked_entropy(logits, mask):
    """float64 `H = z - sum_legal p_a (l_a - m)` (row-wise)."""
    mask = _check_mask(mask)
    lg = np.asarray(logits, dtype=np.float64)
    m = np.where(mask, lg, -np.inf).max(axis=-1, keepdims=True)
    shifted = np.where(mask, lg - m, 0.0)
    z = np.log(np.where(mask, np.exp(shifted), 0.0).sum(axis=-1))
    p = masked_softmax(lg, mask)
    return z - np.where(mask, p * shifted, 0.0).sum(axis=-1)


def masked_log_softmax32(logits_row, mask_row):
    """float32 masked log-softmax of one row, as `logp_old` in the rollout (ALGORITHM): m the max legal logit,
    `s` the float32 sum in index order of `exp32(l_b - m)` over legal b, `z = log32(s)`,
    `log p_a = float32(float32(l_a - m) - z)`; illegal entries -inf."""
    mask = _check_mask(mask_row)
    lg = np.asarray(logits_row, dtype=np.float32)
    legal = [a for a in range(len(lg)) if mask[a]]
    m = max(lg[a] for a in legal)
    s = np.float32(0.0)
    for a in legal:
        s = np.float32(s + _exp32(np.float32(lg[a] - m)))
    z = _log32(s)
    out = np.full(len(lg), -np.inf, dtype=np.float32)
    for a in legal:
        out[a] = np.float32(np.float32(lg[a] - m) - z)
    return out


def sample_action(logits_row, mask_row, tau, u):
    """Sampled action at temperature tau with uniform u (ALGORITHM "Actions"), float32/float64 as pinned:
    `x_a = float32(l_a) / float32(tau)` (one float32 division; tau = 1 leaves the logits as they are), m the
    max legal x, `e_a = exp32(float32(x_a - m))`, `C_a` the float64 running sum of e_a over legal a in index
    order, S the total; the first legal a with `u * S < C_a`, else the last legal action.
    tau = 0: argmax of the legal logits, ties to the lowest index."""
    mask = _check_mask(mask_row)
    lg = np.asarray(logits_row, dtype=np.float32)
    legal = [a for a in range(len(lg)) if mask[a]]
    if tau == 0:
        best = legal[0]
        for a in legal:
            if lg[a] > lg[best]:
                best = a
        return best
    x = {a: np.float32(lg[a] / np.float32(tau)) for a in legal}
    m = max(x.values())
    e = {a: _exp32(np.float32(x[a] - m)) for a in legal}
    S = 0.0
    for a in legal:
        S += float(e[a])
    C = 0.0
    for a in legal:
        C += float(e[a])
        if u * S < C:
            return a
    return legal[-1]


# ---------------------------------------------------------------------------------------------------------
# PPO loss and its gradient (SPEC section 6, ALGORITHM "Loss and gradients"), float64.
# ---------------------------------------------------------------------------------------------------------
def _loss_terms(params, spec, batch, cfg):
    """Shared forward of `ppo_loss` and `ppo_grad` (float64)."""
    eps = cfg["clip_eps"]
    logits, value, cache = forward_cache(params, spec, batch["obs"])
    mask = np.asarray(batch["mask"]).astype(bool)
    n = logits.shape[0]
    action = np.asarray(batch["action"], dtype=np.int64)
    if not mask[np.arange(n), action].all():
        raise ValueError("an action is illegal under its mask")
    logp = masked_log_softmax(logits, mask)
    logp_new = logp[np.arange(n), action]
    d = logp_new - np.asarray(batch["logp_old"], dtype=np.float64)
    r = np.exp(d)
    adv = np.asarray(batch["adv"], dtype=np.float64)
    ret = np.asarray(batch["ret"], dtype=np.float64)
    entropy = masked_entropy(logits, mask)
    return {"eps": eps, "logits": logits, "value": value, "cache": cache, "mask": mask, "n": n,
            "action": action, "logp": logp, "d": d, "r": r, "adv": adv, "ret": ret, "entropy": entropy}


def _mean(x):
    """float64 mean accumulated in index order (a Python loop, not NumPy's pairwise sum)."""
    total = 0.0
    for v in np.asarray(x, dtype=np.float64).ravel():
        total += float(v)
    return total / max(np.size(x), 1)


def ppo_loss(params, spec, batch, cfg):
    """Minibatch loss and statistics in float64: policy `-mean(min(r A, clip(r, 1-eps, 1+eps) A))`, value
    `mean((V - R)^2)`, entropy `mean(H)`, `loss = policy + vf_coef value - ent_coef entropy`, approx_kl
    `mean((r - 1) - d)`, clip_frac `mean(|r - 1| > eps)`. batch: obs, mask, action, logp_old, adv, ret."""
    s = _loss_terms(params, spec, batch, cfg)
    r, adv, eps = s["r"], s["adv"], s["eps"]
    policy = -_mean(np.minimum(r * adv, np.clip(r, 1.0 - eps, 1.0 + eps) * adv))
    value = _mean((s["value"] - s["ret"]) ** 2)
    entropy = _mean(s["entropy"])
    loss = policy + cfg["vf_coef"] * value - cfg["ent_coef"] * entropy
    return {"loss": loss, "policy": policy, "value": value, "entropy": entropy,
            "approx_kl": _mean((r - 1.0) - s["d"]), "clip_frac": _mean(np.abs(r - 1.0) > eps)}


def ppo_grad(params, spec, batch, cfg):
    """float64[P] gradient of `ppo_loss(...)["loss"]` by manual backprop (ALGORITHM "Loss and gradients"):
    dL/dr = -A/n where (A >= 0 and r < 1 + eps) or (A < 0 and r > 1 - eps), else 0; dlogits from the policy
    `dL/dr * r * (onehot_a - p)` and from the entropy `-ent_coef/n * (-p_b (log p_b + H))`, legal entries only
    (illegal exactly 0); dL/dV = vf_coef * 2 (V - R) / n (backward chains tanh)."""
    s = _loss_terms(params, spec, batch, cfg)
    n, r, adv, eps, mask = s["n"], s["r"], s["adv"], s["eps"], s["mask"]
    active = ((adv >= 0) & (r < 1.0 + eps)) | ((adv < 0) & (r > 1.0 - eps))
    g_r = np.where(active, -adv / n, 0.0)
    p = np.where(mask, np.exp(s["logp"]), 0.0)
    onehot = np.zeros_like(p)
    onehot[np.arange(n), s["action"]] = 1.0
    d_policy = (g_r * r)[:, None] * (onehot - p)
    log_p_legal = np.where(mask, s["logp"], 0.0)
    dH = -p * (log_p_legal + s["entropy"][:, None])
    d_logits = np.where(mask, d_policy - cfg["ent_coef"] / n * dH, 0.0)
    d_value = cfg["vf_coef"] * 2.0 * (s["value"] - s["ret"]) / n
    return backward(params, spec, s["cache"], d_logits, d_value)


# ---------------------------------------------------------------------------------------------------------
# GAE, normalisation, minibatches, clipping, Adam, schedule (SPEC sections 5, 6; ALGORITHM).
# ---------------------------------------------------------------------------------------------------------
def gae(reward, value, done, gamma, lam):
    """float32 GAE backwards over a contiguous buffer of whole games (each ends with done = 1):
    `delta = (r + gamma * V_next) - V`, `A = delta + (gamma * lam) * A_next`, one float32 operation at a time,
    evaluated left to right (gamma * lam is one float32 product); on done = 1, `delta = r - V`, `A = delta`
    (a branch: no t+1 term at all). gamma, lam rounded once to float32. `R = A + V` in float32."""
    reward = np.asarray(reward, dtype=np.float32)
    value = np.asarray(value, dtype=np.float32)
    done = np.asarray(done)
    N = len(reward)
    if N and not done[N - 1]:
        raise ValueError("the buffer must end with a done transition")
    g, gl = np.float32(gamma), np.float32(np.float32(gamma) * np.float32(lam))
    adv = np.zeros(N, dtype=np.float32)
    for t in range(N - 1, -1, -1):
        if done[t]:
            adv[t] = np.float32(reward[t] - value[t])
        else:
            delta = np.float32(np.float32(reward[t] + np.float32(g * value[t + 1])) - value[t])
            adv[t] = np.float32(delta + np.float32(gl * adv[t + 1]))
    ret = (adv + value).astype(np.float32)
    return adv, ret


def normalize_advantages(adv):
    """`float32((A - mean) / (std + 1e-8))` evaluated in float64 and rounded once; mean, then the population
    variance in a second pass, both accumulated in float64 in buffer order. One transition (or none) -> 0."""
    adv = np.asarray(adv, dtype=np.float32)
    N = len(adv)
    if N <= 1:
        return np.zeros(N, dtype=np.float32)
    mean = _mean(adv)
    var = _mean([(float(a) - mean) ** 2 for a in adv])
    std = math.sqrt(var)
    return np.array([(float(a) - mean) / (std + 1e-8) for a in adv], dtype=np.float32)


def minibatch_slices(N, batch_size):
    """k = ceil(N / batch_size) consecutive (start, stop) slices: the first N mod k of size ceil(N/k),
    the rest floor(N/k)."""
    if N == 0:
        return []
    k = -(-N // batch_size)
    small, extra = divmod(N, k)
    slices, start = [], 0
    for b in range(k):
        size = small + (1 if b < extra else 0)
        slices.append((start, start + size))
        start += size
    return slices


NORM_CHUNK = 4096


def dot8(a, b):
    """float32 sum of a[j] b[j] in the order of `numbaplay.nn.net._dot8`: term j to accumulator j mod 8 in
    index order, accumulators added 0..7. np.cumsum adds strictly left to right, in float32 here."""
    prod = np.asarray(a, np.float32) * np.asarray(b, np.float32)
    total = np.float32(0.0)
    for j in range(8):
        lane = prod[j::8]
        total = np.float32(total + (np.cumsum(lane, dtype=np.float32)[-1] if lane.size else np.float32(0.0)))
    return total


def grad_sumsq(grad):
    """float64 sum of squares in the order of docs/ALGORITHM.md ("Gradient norm"): chunks of 4,096 in
    index order; within a chunk entry i goes to accumulator (i - start) mod 8, accumulators added 0..7;
    chunk sums added in chunk order. np.cumsum adds strictly left to right."""
    sq = np.asarray(grad, np.float64) ** 2
    total = 0.0
    for lo in range(0, sq.shape[0], NORM_CHUNK):
        total += _piece_sumsq(sq[lo:lo + NORM_CHUNK])
    return total


def _piece_sumsq(sq):
    """float64 sum of a piece's squares sq: entry i to accumulator i mod 8, accumulators added 0..7."""
    c = 0.0
    for j in range(8):
        lane = sq[j::8]
        c += float(np.cumsum(lane)[-1]) if lane.size else 0.0
    return c


def unit_pieces(spec):
    """mlp: the two unit parts' [(lo, hi)] ranges of the flat vector, in the update's norm order
    (docs/ALGORITHM.md, "Gradient norm"): units [0, ceil(H/2)) and the rest; per layer the part's weight
    rows, then its bias entries; part 0 ends with the heads, pi.W to v.b as one range."""
    _, obs_size, H, L, _ = spec
    cut = [0, (H + 1) // 2, H]
    lay = {name: off for name, _, off in param_layout(spec)}
    parts = []
    for p in range(2):
        ranges = []
        for k in range(L):
            fan_in = obs_size if k == 0 else H
            w, b = lay[f"fc{k}.W"], lay[f"fc{k}.b"]
            ranges += [(w + cut[p] * fan_in, w + cut[p + 1] * fan_in), (b + cut[p], b + cut[p + 1])]
        if p == 0:
            ranges.append((lay["pi.W"], n_params(spec)))
        parts.append(ranges)
    return parts


def unit_halves(spec, batch_size):
    """Whether the update takes the unit-half step (docs/ALGORITHM.md, "Parallel work"): mlp, and
    batch_size * H * L at most twice the parameter count."""
    return spec[0] == MLP and batch_size * spec[2] * spec[3] <= 2.0 * n_params(spec)


def update_sumsq(grad, spec, batch_size):
    """The update's sum of squares: `grad_sumsq` for the row-shard step; for the unit-half step
    (`unit_halves`) each `unit_pieces` range's `_piece_sumsq` added in order within a part, then the two
    part totals added."""
    if not unit_halves(spec, batch_size):
        return grad_sumsq(grad)
    sq = np.asarray(grad, np.float64) ** 2
    total = 0.0
    for ranges in unit_pieces(spec):
        part = 0.0
        for lo, hi in ranges:
            part += _piece_sumsq(sq[lo:hi])
        total += part
    return total


def clip_grad_norm(grad, max_norm, spec=None, batch_size=None):
    """(clipped grad, norm before clipping). norm = sqrt of `grad_sumsq`, or of `update_sumsq` when spec
    and batch_size are given (the update's order for that configuration);
    if max_norm > 0 and norm > max_norm, every entry is multiplied by `scale = max_norm / (norm + 1e-6)`
    (float64): a float32 gradient by float32(scale) in float32, a float64 gradient by scale in float64."""
    grad = np.asarray(grad)
    norm = math.sqrt(grad_sumsq(grad) if spec is None else update_sumsq(grad, spec, batch_size))
    if max_norm > 0 and norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        grad = (grad * grad.dtype.type(scale)).astype(grad.dtype)
    return grad.copy(), norm


BETA1, BETA2, ADAM_EPS = np.float32(0.9), np.float32(0.999), np.float32(1e-8)
ONE_MINUS_BETA1, ONE_MINUS_BETA2 = np.float32(0.1), np.float32(0.001)


def adam_step(params, grad, m, v, t, lr):
    """One Adam step, float32 per ALGORITHM; returns (params, m, v, t) as new arrays. t += 1 first; bc1, bc2
    in float64; `a = float32(lr / bc1)`, `s = float32(sqrt(bc2))`; per entry in float32, one operation at a
    time, left to right: `m = 0.9 m + 0.1 g`, `v = 0.999 v + (0.001 g) g`,
    `theta = theta - (a m) / (sqrt(v) / s + 1e-8)`, with m and v below the smallest normal float32 set to 0,
    with the constants float32(0.9), float32(0.1), float32(0.999), float32(0.001), float32(1e-8)."""
    f32 = np.float32
    params, grad = np.asarray(params, dtype=f32), np.asarray(grad, dtype=f32)
    m, v = np.asarray(m, dtype=f32), np.asarray(v, dtype=f32)
    t = int(t) + 1
    bc1 = 1.0 - 0.9**t
    bc2 = 1.0 - 0.999**t
    a = f32(lr / bc1)
    s = f32(math.sqrt(bc2))
    m = (BETA1 * m + ONE_MINUS_BETA1 * grad).astype(f32)
    v = (BETA2 * v + (ONE_MINUS_BETA2 * grad) * grad).astype(f32)
    # Moments below the smallest normal float32 are flushed to 0 (ALGORITHM "Optimiser").
    tiny = np.finfo(f32).tiny
    m = np.where(np.abs(m) < tiny, f32(0.0), m).astype(f32)
    v = np.where(v < tiny, f32(0.0), v).astype(f32)
    params = (params - (a * m) / (np.sqrt(v) / s + ADAM_EPS)).astype(f32)
    return params, m, v, t


def learning_rate(i, lr, lr_min, iterations, schedule):
    """float64 rate for iteration i: `lr` if constant; cosine
    `lr_min + (lr - lr_min) (1 + cos(pi min(i, I-1) / max(I-1, 1))) / 2`."""
    if schedule == "constant":
        return float(lr)
    if schedule != "cosine":
        raise ValueError(f"unknown schedule {schedule!r}")
    last = int(iterations) - 1
    return lr_min + (lr - lr_min) * (1.0 + math.cos(math.pi * min(i, last) / max(last, 1))) / 2.0


# ---------------------------------------------------------------------------------------------------------
# Self-play and the PPO iteration (SPEC sections 5, 6).
# ---------------------------------------------------------------------------------------------------------
# Keys and defaults as `numbaplay.config.TrainConfig` names them (a `to_dict()` can be passed as cfg).
DEFAULTS = {
    "games_per_iter": 256, "opp_temperature": 1.0, "draw_reward": 0.0, "gamma": 0.99, "gae_lambda": 0.95,
    "clip_eps": 0.2, "vf_coef": 0.5, "ent_coef": 0.01, "ent_coef_min": 0.0, "ent_schedule": "constant",
    "max_grad_norm": 0.5, "epochs": 4, "batch_size": 256, "lr": 3e-3, "lr_min": 0.0, "iterations": 200,
    "lr_schedule": "constant", "snapshot_interval": 5, "pool_size": 10,
}


def _policy32(params, spec, obs):
    """float32 logits and value of one observation: the float64 forward with the logits and the value head's
    pre-activation u rounded to float32, then `value = tanh32(u)`."""
    logits, _, cache = forward_cache(params, spec, obs)
    t = unpack(params, spec)
    u = np.float32(cache["h"][0] @ t["v.W"][0] + t["v.b"][0])
    return logits[0].astype(np.float32), _tanh32(u)


def rollout(game, learner_params, pool, spec, cfg, seed, iteration):
    """Play the G = cfg["games_per_iter"] games of one iteration one at a time (SPEC section 5, ALGORITHM).
    Game g: opponent `pool[below(len(pool), draw 0 of (OPPONENT, iteration, g))]`; the learner moves first
    when g is even; at ply p the mover uses uniform draw p of (LEARNER_ACTION or OPPONENT_ACTION, iteration,
    g); the learner samples at tau = 1, the opponent at cfg["opp_temperature"] (0 = greedy).
    Returns the learner's transitions in buffer order (game, then ply): obs float32[N, obs], mask uint8[N, A],
    action int64[N], logp_old float32[N] (`masked_log_softmax32`), value float32[N], reward float32[N],
    done uint8[N], game int64[N], ply int64[N]; and per game moves (list of action lists), opponent int64[G],
    result int64[G] (learner's +1 / 0 / -1), offsets int64[G+1] (first transition of each game)."""
    G = int(cfg["games_per_iter"])
    if G % 2:
        raise ValueError("games_per_iter must be even")
    opp_tau = float(cfg.get("opp_temperature", 1.0))
    draw_reward = float(cfg.get("draw_reward", 0.0))
    rows = {k: [] for k in ("obs", "mask", "action", "logp_old", "value", "reward", "done", "game", "ply")}
    moves_all, opponent, result, offsets = [], [], [], [0]
    for g in range(G):
        opp = below(len(pool), seed, OPPONENT, iteration, g, 0)
        learner_side = 1 if g % 2 == 0 else 2
        board, moves, p = new_board(game), [], 0
        # Curriculum: k random plies that do not end the game (ALGORITHM "Curriculum").
        k = below(int(cfg.get("random_opening_plies", 0)) + 1, seed, CURRICULUM, iteration, g, 0)
        for j in range(k):
            ok = [a for a in np.flatnonzero(legal_mask(game, board))
                  if winner(game, play(game, board, int(a))) == ONGOING]
            if not ok:
                break
            action = int(ok[below(len(ok), seed, CURRICULUM, iteration, g, j + 1)])
            board = play(game, board, action)
            moves.append(action)
            p += 1
        while winner(game, board) == ONGOING:
            obs, mask = observe(game, board), legal_mask(game, board)
            if side_to_move(board) == learner_side:
                logits, value = _policy32(learner_params, spec, obs)
                u = uniform(seed, LEARNER_ACTION, iteration, g, p)
                action = sample_action(logits, mask, 1.0, u)
                rows["obs"].append(obs)
                rows["mask"].append(mask)
                rows["action"].append(action)
                rows["logp_old"].append(masked_log_softmax32(logits, mask)[action])
                rows["value"].append(value)
                rows["reward"].append(0.0)
                rows["done"].append(0)
                rows["game"].append(g)
                rows["ply"].append(p)
            else:
                logits, _ = _policy32(pool[opp], spec, obs)
                u = uniform(seed, OPPONENT_ACTION, iteration, g, p)
                action = sample_action(logits, mask, opp_tau, u)
            board = play(game, board, action)
            moves.append(action)
            p += 1
        status = winner(game, board)
        outcome = 0 if status == DRAW else (1 if status == learner_side else -1)
        if len(rows["action"]) > offsets[-1]:  # after a curriculum opening the learner may never move
            rows["reward"][-1] = {1: 1.0, -1: -1.0, 0: draw_reward}[outcome]
            rows["done"][-1] = 1
        moves_all.append(moves)
        opponent.append(opp)
        result.append(outcome)
        offsets.append(len(rows["action"]))
    A, n_obs = N_ACTIONS[game], OBS_SIZE[game]
    return {
        "obs": np.array(rows["obs"], dtype=np.float32).reshape(-1, n_obs),
        "mask": np.array(rows["mask"], dtype=np.uint8).reshape(-1, A),
        "action": np.array(rows["action"], dtype=np.int64),
        "logp_old": np.array(rows["logp_old"], dtype=np.float32),
        "value": np.array(rows["value"], dtype=np.float32),
        "reward": np.array(rows["reward"], dtype=np.float32),
        "done": np.array(rows["done"], dtype=np.uint8),
        "game": np.array(rows["game"], dtype=np.int64),
        "ply": np.array(rows["ply"], dtype=np.int64),
        "moves": moves_all,
        "opponent": np.array(opponent, dtype=np.int64),
        "result": np.array(result, dtype=np.int64),
        "offsets": np.array(offsets, dtype=np.int64),
    }


def explained_variance(ret, value):
    """`1 - Var(R - V) / Var(R)` (population variances, float64 in buffer order); None when Var(R) = 0."""
    R = [float(x) for x in ret]
    D = [float(r) - float(v) for r, v in zip(ret, value, strict=True)]
    if not R:
        return None
    mR, mD = _mean(R), _mean(D)
    var_R = _mean([(x - mR) ** 2 for x in R])
    var_D = _mean([(x - mD) ** 2 for x in D])
    return None if var_R == 0.0 else 1.0 - var_D / var_R


def ppo_iteration(game, params, m, v, t, pool, spec, cfg, seed, iteration):
    """One iteration: rollout, GAE, advantage normalisation, then cfg["epochs"] passes over the SHUFFLE
    permutation cut by `minibatch_slices`; per minibatch the float64 loss statistics and gradient at the
    current parameters, the gradient rounded to float32, clipped (`clip_grad_norm`), and an `adam_step` at
    this iteration's learning rate; the entropy coefficient follows `learning_rate` with ent_coef,
    ent_coef_min, ent_schedule. cfg: DEFAULTS' keys (missing ones take DEFAULTS). The pool is not changed
    (see `pool_update`). Returns dict(params, m, v, t, stats, rollout, adv (raw), adv_norm, ret, lr,
    ent_coef). stats: size-weighted means over all minibatches of all epochs of policy_loss, value_loss,
    entropy, approx_kl, clip_frac, grad_norm, each from the forward pass before its step;
    explained_variance (None when Var(R) = 0)."""
    cfg = {**DEFAULTS, **cfg}
    ro = rollout(game, params, pool, spec, cfg, seed, iteration)
    adv, ret = gae(ro["reward"], ro["value"], ro["done"], cfg["gamma"], cfg["gae_lambda"])
    adv_norm = normalize_advantages(adv)
    lr = learning_rate(iteration, cfg["lr"], cfg["lr_min"], cfg["iterations"], cfg["lr_schedule"])
    ent_coef = learning_rate(iteration, cfg["ent_coef"], cfg["ent_coef_min"], cfg["iterations"],
                             cfg["ent_schedule"])                    # same rule as the learning rate
    cfg = {**cfg, "ent_coef": ent_coef}
    N = len(adv)
    sums = dict.fromkeys(("policy_loss", "value_loss", "entropy", "approx_kl", "clip_frac", "grad_norm"), 0.0)
    rows = 0
    params = np.asarray(params, dtype=np.float32).copy()
    for epoch in range(int(cfg["epochs"])):
        perm = permutation(N, seed, iteration, epoch)
        for start, stop in minibatch_slices(N, int(cfg["batch_size"])):
            idx = perm[start:stop]
            batch = {"obs": ro["obs"][idx], "mask": ro["mask"][idx], "action": ro["action"][idx],
                     "logp_old": ro["logp_old"][idx], "adv": adv_norm[idx], "ret": ret[idx]}
            stats = ppo_loss(params, spec, batch, cfg)
            grad = ppo_grad(params, spec, batch, cfg).astype(np.float32)
            grad, norm = clip_grad_norm(grad, cfg["max_grad_norm"], spec, int(cfg["batch_size"]))
            params, m, v, t = adam_step(params, grad, m, v, t, lr)
            n = stop - start
            rows += n
            for key, value in (("policy_loss", stats["policy"]), ("value_loss", stats["value"]),
                               ("entropy", stats["entropy"]), ("approx_kl", stats["approx_kl"]),
                               ("clip_frac", stats["clip_frac"]), ("grad_norm", norm)):
                sums[key] += n * value
    stats = {key: total / max(rows, 1) for key, total in sums.items()}
    stats["explained_variance"] = explained_variance(ret, ro["value"])
    return {"params": params, "m": m, "v": v, "t": t, "stats": stats, "rollout": ro, "adv": adv,
            "adv_norm": adv_norm, "ret": ret, "lr": lr, "ent_coef": ent_coef}


def pool_update(pool, params, i, snapshot_interval, pool_size):
    """A new pool list after the update of iteration i (0-based): append a copy of params when
    `(i + 1) % snapshot_interval == 0`; then, if it holds more than pool_size entries, drop entry 1."""
    if pool_size < 2:
        raise ValueError("pool_size must be >= 2")
    pool = list(pool)
    if (i + 1) % snapshot_interval == 0:
        pool.append(np.array(params, dtype=np.float32, copy=True))
        if len(pool) > pool_size:
            del pool[1]
    return pool


def train(game, spec, cfg, seed, iterations):
    """The whole loop, for end-to-end comparisons: init, pool = [initial params], then per iteration
    `ppo_iteration` and `pool_update`. Returns (params, m, v, t, pool, list of stats)."""
    cfg = {**DEFAULTS, **cfg}
    params = init_params(spec, seed)
    m = np.zeros_like(params)
    v = np.zeros_like(params)
    t, pool, history = 0, [params.copy()], []
    for i in range(iterations):
        out = ppo_iteration(game, params, m, v, t, pool, spec, cfg, seed, i)
        params, m, v, t = out["params"], out["m"], out["v"], out["t"]
        pool = pool_update(pool, params, i, cfg["snapshot_interval"], cfg["pool_size"])
        history.append(out["stats"])
    return params, m, v, t, pool, history
