"""Self-play rollout of one iteration: all games in lockstep, batched inference (SPEC section 5).

At every step each unfinished game has one side to move. The games where the learner moves are
gathered in game order into one batch; the games where an opponent moves are grouped by pool entry,
one batch per entry. Game logic (observations, masks, sampling, moves) runs in `prange` over rows, each
row writing only its own game's slots. Every batch is cut into pieces of about 128 rows
(`numbaplay.nn.rows.inference_cuts`, fixed by the batch size), and all pieces of a step, learner's and
opponents' alike, run in one `prange` (`step_inference`), one single-threaded GEMM per piece and layer,
so the output is identical for any number of Numba threads. The pieces and the moves are shared out as one
job of about equal work per thread (`n_jobs`), which only decides who does what.

Transitions are first written per game (slot arrays [G, T_max, ...]), then packed game-major, ply
order, so that GAE never mixes games.
"""
import numpy as np
from numba import njit, prange

from numbaplay.games.core import is_legal, legal_mask, may_end, observe, play
from numbaplay.nn.net import forward_nets
from numbaplay.nn.policy import sample_action, sample_action_logp
from numbaplay.nn.rows import copy_row, inference_cuts, inference_pieces
from numbaplay.omp import launch_threads, prange_only
from numbaplay.rng import (
    CURRICULUM,
    LEARNER_ACTION,
    OPPONENT,
    OPPONENT_ACTION,
    key_below,
    key_uniform,
    stream_key,
)

launch_threads()  # before any cached kernel loads (numbaplay/omp.py)


@njit(cache=True)
def choose_opponents(out, n_pool, seed, iteration):
    """out[g] = pool index of game g's opponent: draw 0 of stream (OPPONENT, iteration, g)."""
    for g in range(out.shape[0]):
        out[g] = key_below(stream_key(seed, OPPONENT, iteration, g), 0, n_pool)


# Every per-row loop of a step runs in `prange`, however few its rows: a parallel region costs about 1.5 us
# with the short OpenMP spin the CLI sets, and Numba compiles a `prange` body with `noalias` arrays and the
# numpy error model, which made the moves' body 2.4x faster per row than the same loop outside `prange`.
# A serial copy of each loop for small batches (below 64 rows, until 2a0b9fb) saved nothing and cost
# about 2 s of cold compile. Each row writes only its own game's slots, so any split gives the same result.
# One region a step instead of three (each piece writing its rows' observations, running its forward, then
# playing its rows' moves) made rollouts 2-4% faster for tictactoe and 1% for c4-seed, but added 2-3 s to
# the cold start of `train tictactoe` (47bdda0 against 8b2d476: +2.0 s, 95% interval 0.0 to 4.1 s, over 4
# alternating rounds of scripts/ab_cold_start.py; results/bench/ab_play_step_*.json); not kept. The moves,
# gathers and openings as `prange` loops inlined into `rollout_kernel` (parallel=prange_only(), as the update
# kernels hold theirs) instead of parallel kernels of their own: the rollout and packing compiled 0.6 and
# 0.2 s faster in two alternating rounds, about what `pack_transitions` alone saves by holding its loop, and
# the profiler would need a second copy of each loop to time apart; not kept.


@njit(cache=True, inline="always")
def _act_one(r, actions, slot_obs, slot_mask, slot_action, slot_logp, slot_value, slot_count,
             rows, x, mask, logits, vpre, states, temperature, seed, iteration, purpose, record, scratch):
    g = rows[r]
    u = key_uniform(stream_key(seed, purpose, iteration, g), states[g, 2])
    if record:  # the learner, at temperature 1: its log-probability from the draw's exponentials
        a, logp = sample_action_logp(logits[r], mask[r], u, scratch[r])
    else:
        a = sample_action(logits[r], mask[r], temperature, u, scratch[r])
        logp = np.float32(0.0)
    actions[g] = a
    if record:
        t = slot_count[g]
        copy_row(slot_obs[g, t], x[r])
        copy_row(slot_mask[g, t], mask[r])
        slot_action[g, t] = a
        slot_logp[g, t] = logp
        slot_value[g, t] = np.tanh(vpre[r])
        slot_count[g] = t + 1


@njit(cache=True, inline="always")
def _apply_one(g, states, actions, moves, active, gid):
    if active[g]:
        a = actions[g]
        if is_legal(gid, states[g], a):
            moves[g, states[g, 2]] = a
            play(gid, states[g], a)


@njit(cache=True, inline="always")
def _move_one(r, n_learn, actions, slot_obs, slot_mask, slot_action, slot_logp, slot_value, slot_count, rows, x,
              mask, logits, vpre, states, moves, active, gid, opp_temperature, seed, iteration, scratch):
    """Row r of a step: the learner's move (r < n_learn, temperature 1, its transition stored) or the opponent's,
    then the move played on its game (each row is one game's, so rows never touch each other's slots)."""
    if r < n_learn:
        _act_one(r, actions, slot_obs, slot_mask, slot_action, slot_logp, slot_value, slot_count, rows, x, mask,
                 logits, vpre, states, 1.0, seed, iteration, LEARNER_ACTION, True, scratch)
    else:
        _act_one(r, actions, slot_obs, slot_mask, slot_action, slot_logp, slot_value, slot_count, rows, x, mask,
                 logits, vpre, states, opp_temperature, seed, iteration, OPPONENT_ACTION, False, scratch)
    _apply_one(rows[r], states, actions, moves, active, gid)


@njit(cache=True, parallel=True)
def move_rows(n_rows, n_learn, actions, slot_obs, slot_mask, slot_action, slot_logp, slot_value, slot_count, rows,
              x, mask, logits, vpre, states, moves, active, gid, opp_temperature, seed, iteration, scratch, n_jobs):
    """Every move of one step in one parallel region: workspace rows [0, n_learn) are the learner's (its
    transitions stored), the rest the opponents'; rows[r] is row r's game (`step_rows`). scratch:
    float32[>=n_rows, A], a row per workspace row.

    Job j of n_jobs (the thread count) takes the j-th share of the learner's rows, then the j-th share of
    the opponents': a learner's row costs more (it stores its transition), and an even split of the rows
    gave one thread nearly all of them (moves 8% faster on 2 threads for tictactoe). Rows are independent,
    so the output does not depend on n_jobs."""
    n_opp = n_rows - n_learn
    for j in prange(n_jobs):
        la = j * n_learn // n_jobs  # job j: learner rows [la, la + n_l), then opponent rows [oa, oa + n_o)
        n_l = (j + 1) * n_learn // n_jobs - la
        oa = n_learn + j * n_opp // n_jobs
        n_o = n_learn + (j + 1) * n_opp // n_jobs - oa
        for i in range(n_l + n_o):
            # One loop, so that `_move_one` (and the two `_act_one` inside) compiles once: two loops doubled
            # the kernel's compile (3 s of a cold start).
            r = la + i if i < n_l else oa + (i - n_l)
            _move_one(r, n_learn, actions, slot_obs, slot_mask, slot_action, slot_logp, slot_value, slot_count,
                      rows, x, mask, logits, vpre, states, moves, active, gid, opp_temperature, seed, iteration,
                      scratch)


@njit(cache=True, parallel=True)
def _gather(x, mask, rows, n_rows, states, gid):
    """Observation and legal mask of each gathered game, one row each."""
    for r in prange(n_rows):
        observe(gid, x[r], states[rows[r]])
        legal_mask(gid, mask[r], states[rows[r]])


@njit(cache=True, inline="always")
def _opening_one(g, states, moves, gid, opening_plies, seed, iteration, legal, trial):
    key = stream_key(seed, CURRICULUM, iteration, g)
    k = key_below(key, 0, opening_plies + 1)
    for j in range(k):
        n_ok = 0
        check = may_end(gid, states[g])  # else every legal move keeps the game going: no trial move
        for a in range(legal.shape[0]):
            if is_legal(gid, states[g], a):
                if check:
                    copy_row(trial, states[g])
                    play(gid, trial, a)
                    if trial[3] != 0:
                        continue
                legal[n_ok] = a
                n_ok += 1
        if n_ok == 0:
            break
        a = legal[key_below(key, j + 1, n_ok)]
        moves[g, states[g, 2]] = a
        play(gid, states[g], a)


@njit(cache=True, parallel=True)
def random_openings(states, moves, gid, n_actions, opening_plies, seed, iteration):
    """Curriculum ("exploring starts"): game g starts after k random plies, k uniform in 0..opening_plies.

    Draw 0 of stream (CURRICULUM, iteration, g) picks k; draw j picks ply j uniformly among the legal
    moves, in index order, that do not end the game (the opening stops early if every move would).
    So every game starts from a non-terminal position. Games are independent (each writes its own rows).
    The scratch rows are allocated once, outside the parallel loop (two small arrays allocated per game
    inside it cost as much on two threads as on one), and a move is tried on a copy of the position only
    where it could end the game (`may_end`): tictactoe's 2,048 openings of up to 4 plies took 0.44 ms.
    """
    n_games = states.shape[0]
    legal = np.empty((n_games, n_actions), dtype=np.int64)
    trial = np.empty((n_games, 4), dtype=np.int64)
    for g in prange(n_games):
        _opening_one(g, states, moves, gid, opening_plies, seed, iteration, legal[g], trial[g])


@njit(cache=True)
def schedule_step(rows, order, counts, active, states, opponent):
    """One step's bookkeeping of the rollout: returns (n_learn, any_active).

    out rows: int64[G], learner games in game order (first n_learn); order: int64[G], opponent games
    sorted by pool index, game order within an entry; counts: int64[n_pool + 1], entry j's games are
    order[counts[j]:counts[j + 1]]; active: bool[G]. in states: int64[G, 4]; opponent: int64[G].
    """
    n_games = states.shape[0]
    n_pool = counts.shape[0] - 1
    n_learn = 0
    counts[:] = 0
    any_active = False
    for g in range(n_games):
        active[g] = states[g, 3] == 0
        if not active[g]:
            continue
        any_active = True
        if (states[g, 2] & 1) == (g & 1):
            rows[n_learn] = g
            n_learn += 1
        else:
            counts[opponent[g] + 1] += 1
    for j in range(n_pool):
        counts[j + 1] += counts[j]
    fill = counts[:n_pool].copy()
    for g in range(n_games):
        if active[g] and (states[g, 2] & 1) != (g & 1):
            order[fill[opponent[g]]] = g
            fill[opponent[g]] += 1
    return n_learn, any_active


@njit(cache=True, inline="always")
def step_pieces(n_learn, counts):
    """The forward pieces of one step as (net, lo, hi) int64 arrays, rows in workspace order.

    The learner's n_learn rows are workspace rows [0, n_learn) (net -1); pool entry j's rows follow at
    [n_learn + counts[j], n_learn + counts[j + 1]) (net j). Each batch is cut by `inference_cuts`, so a
    piece never mixes networks and its rows depend only on the batch size.
    """
    n_pool = counts.shape[0] - 1
    total = inference_pieces(n_learn)
    for j in range(n_pool):
        total += inference_pieces(counts[j + 1] - counts[j])
    net = np.empty(total, dtype=np.int64)
    lo = np.empty(total, dtype=np.int64)
    hi = np.empty(total, dtype=np.int64)
    p = 0
    for j in range(-1, n_pool):
        start = 0 if j < 0 else n_learn + counts[j]
        n_rows = n_learn if j < 0 else counts[j + 1] - counts[j]
        if n_rows == 0:
            continue
        cuts = inference_cuts(n_rows)
        for c in range(cuts.shape[0] - 1):
            net[p] = j
            lo[p] = start + cuts[c]
            hi[p] = start + cuts[c + 1]
            p += 1
    return net, lo, hi


@njit(cache=True, inline="always")
def step_inference(n_learn, counts, learner, pool, spec, offs, x, hs, us, pre, xh, rs, logits, vpre, n_jobs):
    """Every forward pass of one step (learner and all pool entries) in one parallel region over the
    pieces of `step_pieces`, as n_jobs runs of about equal rows (n_jobs: the thread count)."""
    net, lo, hi = step_pieces(n_learn, counts)
    forward_nets(net, lo, hi, learner, pool, spec, offs, x, hs, us, pre, xh, rs, logits, vpre, False, n_jobs)


@njit(cache=True, inline="always")
def step_rows(out, rows, n_learn, order, counts):
    """out[:n] = the learner's rows then the opponents' (entry order), the workspace row order; returns n."""
    n_opp = counts[counts.shape[0] - 1]
    copy_row(out[:n_learn], rows)
    copy_row(out[n_learn:n_learn + n_opp], order)
    return n_learn + n_opp


@njit(cache=True)
def rollout_kernel(slot_obs, slot_mask, slot_action, slot_logp, slot_value, slot_count, moves, status,
                   opponent, gid, spec, offs, learner, pool, seed, iteration, opp_temperature,
                   opening_plies, x, mask, logits, vpre, hs, us, pre, xh, rs, n_jobs):
    """Play the G games of one iteration.

    out slot_obs: float32[G, T, obs]; slot_mask: uint8[G, T, A]; slot_action: int64[G, T];
    slot_logp, slot_value: float32[G, T]; slot_count: int64[G]; moves: int64[G, max_plies] (-1 pad);
    status: int64[G] final status; opponent: int64[G] pool index.
    in gid; spec: int64[5]; offs: int64[T+1]; learner: float32[P]; pool: float32[n_pool, >=P] (entry j: pool[j, :P]);
    workspace x: float32[G, obs], mask: uint8[G, A], logits: float32[G, A], vpre: float32[G],
    hs, us, pre, xh: float32[L, G, H], rs: float32[L, G].
    n_jobs: how many parallel jobs each step's inference and moves split into, the Numba thread count for
    balanced threads; any value gives the same games.
    """
    n_games = slot_count.shape[0]
    n_pool = pool.shape[0]
    max_plies = moves.shape[1]
    states = np.zeros((n_games, 4), dtype=np.int64)
    actions = np.full(n_games, -1, dtype=np.int64)
    active = np.zeros(n_games, dtype=np.bool_)
    rows = np.empty(n_games, dtype=np.int64)
    counts = np.zeros(n_pool + 1, dtype=np.int64)
    order = np.empty(n_games, dtype=np.int64)
    all_rows = np.empty(n_games, dtype=np.int64)
    scratch = np.empty((n_games, mask.shape[1]), dtype=np.float32)  # each row's exponentials (`move_rows`)
    choose_opponents(opponent, n_pool, seed, iteration)
    slot_count[:] = 0
    moves[:, :] = -1
    if opening_plies > 0:
        random_openings(states, moves, gid, mask.shape[1], opening_plies, seed, iteration)
    for _step in range(max_plies):
        n_learn, any_active = schedule_step(rows, order, counts, active, states, opponent)
        if not any_active:
            break
        # Workspace rows: the learner's batch (game order), then each pool entry's (game order within).
        n_rows = step_rows(all_rows, rows, n_learn, order, counts)
        _gather(x, mask, all_rows, n_rows, states, gid)
        step_inference(n_learn, counts, learner, pool, spec, offs, x, hs, us, pre, xh, rs, logits, vpre, n_jobs)
        move_rows(n_rows, n_learn, actions, slot_obs, slot_mask, slot_action, slot_logp, slot_value, slot_count,
                  all_rows, x, mask, logits, vpre, states, moves, active, gid, opp_temperature, seed, iteration,
                  scratch, n_jobs)
    for g in range(n_games):
        status[g] = states[g, 3]


@njit(cache=True, inline="always")
def _pack_one(g, start, obs, mask, action, logp, value, reward, done, result,
              slot_obs, slot_mask, slot_action, slot_logp, slot_value, slot_count, status, draw_reward):
    seat = g & 1
    if status[g] == 3:
        res = 0
    elif status[g] == seat + 1:
        res = 1
    else:
        res = -1
    result[g] = res
    k = slot_count[g]
    pos = start[g]
    for t in range(k):
        copy_row(obs[pos], slot_obs[g, t])
        copy_row(mask[pos], slot_mask[g, t])
        action[pos] = slot_action[g, t]
        logp[pos] = slot_logp[g, t]
        value[pos] = slot_value[g, t]
        reward[pos] = 0.0
        done[pos] = 0
        pos += 1
    if k > 0:
        last = pos - 1
        done[last] = 1
        if res == 1:
            reward[last] = 1.0
        elif res == -1:
            reward[last] = -1.0
        else:
            reward[last] = np.float32(draw_reward)


@njit(cache=True, parallel=prange_only())
def pack_transitions(obs, mask, action, logp, value, reward, done, result,
                     slot_obs, slot_mask, slot_action, slot_logp, slot_value, slot_count, status,
                     draw_reward):
    """Pack per-game slots game-major into flat buffers; returns the number of transitions N.

    out obs: float32[>=N, obs]; mask: uint8[>=N, A]; action: int64[>=N]; logp, value, reward: float32[>=N];
    done: uint8[>=N]; result: int64[G], the learner's +1 win / 0 draw / -1 loss.
    Game g's transitions start at the sum of the earlier games' counts, so games pack independently.
    """
    n_games = slot_count.shape[0]
    start = np.empty(n_games, dtype=np.int64)
    pos = 0
    for g in range(n_games):
        start[g] = pos
        pos += slot_count[g]
    for g in prange(n_games):
        _pack_one(g, start, obs, mask, action, logp, value, reward, done, result,
                  slot_obs, slot_mask, slot_action, slot_logp, slot_value, slot_count, status, draw_reward)
    return pos
