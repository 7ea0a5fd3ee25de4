"""Bitboard game kernels against the plain-list twin (tests/naive.py), and position notation."""
import naive
import numpy as np
import pytest

from numbaplay.errors import PositionError
from numbaplay.games import get_game, parse_position
from numbaplay.games.core import may_end, play, replay


def random_games(gid, n_games, rng):
    """Random legal move lists played with the twin's rules."""
    out = []
    for _ in range(n_games):
        board, moves = naive.new_board(gid), []
        while naive.winner(gid, board) == 0:
            a = int(rng.choice(np.flatnonzero(naive.legal_mask(gid, board))))
            board = naive.play(gid, board, a)
            moves.append(a)
        out.append(moves)
    return out


@pytest.mark.parametrize("name", ["tictactoe", "connect4"])
def test_may_end_is_false_only_where_no_move_ends_the_game(name):
    """`may_end` lets the rollout's random openings skip trial moves; the twin decides where a move ends a game."""
    game = get_game(name)
    rng = np.random.default_rng(5)
    earliest = game.max_plies
    for moves in random_games(game.gid, 2000 if name == "tictactoe" else 500, rng):
        board, state = naive.new_board(game.gid), game.new_states(1)[0]
        for a in moves:
            ends = any(naive.winner(game.gid, naive.play(game.gid, board, b)) != 0
                       for b in np.flatnonzero(naive.legal_mask(game.gid, board)))
            if ends:
                earliest = min(earliest, int(state[2]))
                assert may_end(game.gid, state), state
            board = naive.play(game.gid, board, a)
            play(game.gid, state, a)
    # no looser than it must be: some random game could end at the first ply that `may_end` allows
    assert not may_end(game.gid, np.array([0, 0, earliest - 1, 0], np.int64))
    assert may_end(game.gid, np.array([0, 0, earliest, 0], np.int64))


@pytest.mark.parametrize("name", ["tictactoe", "connect4"])
def test_replays_match_twin(name):
    game = get_game(name)
    rng = np.random.default_rng(11)
    for moves in random_games(game.gid, 2000 if name == "tictactoe" else 1000, rng):
        n = len(moves)
        masks = np.zeros((n + 1, game.n_actions), np.uint8)
        obs = np.zeros((n + 1, game.obs_size), np.float32)
        status = np.zeros(n + 1, np.int64)
        assert replay(game.gid, masks, obs, status, np.array(moves, np.int64), n) == n
        ref_masks, ref_obs, ref_status = naive.replay(game.gid, moves)
        np.testing.assert_array_equal(masks, ref_masks)
        np.testing.assert_array_equal(obs, ref_obs)
        np.testing.assert_array_equal(status, ref_status)




@pytest.mark.parametrize("moves,status", [
    ("1212121", 1),          # vertical, column 1, first player
    ("1122334", 1),          # horizontal on the bottom row from the left edge
    ("7766554", 1),          # horizontal to the right edge
    ("12234334544", 1),      # rising diagonal from the bottom-left corner
    ("76654554344", 1),      # falling diagonal from the bottom-right corner
    ("71212121", 2),         # second player vertical
])
def test_connect4_wins_in_every_direction(moves, status):
    state = parse_position(get_game("connect4"), moves)
    assert state[3] == status


def test_connect4_full_board_draw():
    # A full board with no four in a row (found by random play with the twin's rules).
    state = parse_position(get_game("connect4"), "666165577462463234152541333211132724554777")
    assert state[2] == 42 and state[3] == 3


def test_tictactoe_last_cell_win_is_a_win():
    # The first player completes the row 7-8-9 with the ninth stone.
    state = parse_position(get_game("tictactoe"), "123456879")
    assert state[2] == 9 and state[3] == 1


@pytest.mark.parametrize("name,text,needle", [
    ("tictactoe", "1x", "'x' at ply 2"),
    ("tictactoe", "11", "ply 2"),
    ("tictactoe", "0", "ply 1"),
    ("connect4", "8", "ply 1"),
    ("connect4", "4444444", "ply 7"),
    ("connect4", "12121212", "ply 8"),
])
def test_malformed_positions_name_the_move(name, text, needle):
    with pytest.raises(PositionError, match=needle):
        parse_position(get_game(name), text)
