"""`numbaplay play`: boards, input handling, results (CliRunner feeding stdin)."""
import numpy as np
from click.testing import CliRunner

from numbaplay.checkpoint import save as save_checkpoint
from numbaplay.cli.play import draw_board, play
from numbaplay.games.core import get_game, parse_position


def run(args, text):
    return CliRunner().invoke(play, args, input=text)


def test_connect4_board_drawing():
    board = draw_board(get_game("connect4"), parse_position(get_game("connect4"), "4435"))
    lines = board.splitlines()
    assert len(lines) == 7
    assert lines[-1] == "1 2 3 4 5 6 7"
    assert lines[-2] == ". . X X O . ."
    assert lines[-3] == ". . . O . . ."
    assert all(line == ". . . . . . ." for line in lines[:4])


def test_tictactoe_board_drawing():
    board = draw_board(get_game("tictactoe"), parse_position(get_game("tictactoe"), "159"))
    assert board.splitlines() == [" X | 2 | 3", "---+---+---", " 4 | O | 6", "---+---+---", " 7 | 8 | X"]


def test_tictactoe_against_perfect_ends_in_a_draw_or_loss():
    # the human plays cells in order, skipping taken ones (rejected with a message, the game goes on)
    result = run(["tictactoe", "--opponent", "perfect"], "".join(f"{c}\n" for c in range(1, 10)) * 2)
    assert result.exit_code == 0, result.output
    assert "You win." not in result.output
    assert ("Draw." in result.output) or ("perfect wins." in result.output)
    assert "is taken" in result.output


def test_bad_input_is_rejected_and_the_game_goes_on():
    result = run(["tictactoe", "--opponent", "random"], "x\n0\n10\n\n5\nq\n")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "'x' is not a move" in out and "'0' is not a move" in out and "'10' is not a move" in out
    assert " 1 | 2 | 3\n---+---+---\n 4 | X | 6" in out  # the move 5 was played
    assert "game abandoned." in out


def test_connect4_full_column_and_quit():
    # heuristic answers 4 on 4 until the column is full
    result = run(["connect4", "--opponent", "heuristic"], "4\n4\n4\n4\nq\n")
    assert result.exit_code == 0, result.output
    assert "column 4 is full" in result.output
    assert result.output.rstrip().endswith("game abandoned.")


def test_connect4_game_to_the_end_as_second_player():
    # random opponent, the human fills columns left to right: the game ends with a result
    moves = "".join(f"{c}\n" for c in [1] * 6 + [2] * 6 + [3] * 6 + [4] * 6 + [5] * 6 + [6] * 6 + [7] * 6)
    result = run(["connect4", "--opponent", "random", "--second", "--seed", "3"], moves)
    assert result.exit_code == 0, result.output
    assert "you play O (second)" in result.output
    assert any(s in result.output for s in ("You win.", "random wins.", "Draw."))
    assert "random (X) plays" in result.output


def test_end_of_input_abandons_the_game():
    result = run(["connect4", "--opponent", "ab2"], "4\n")
    assert result.exit_code == 0
    assert "end of input" in result.output


def test_unknown_opponent_and_conflicting_options():
    result = run(["tictactoe", "--opponent", "ab3"], "")
    assert result.exit_code == 2 and "not an opponent for tictactoe" in result.output
    result = run(["connect4", "--opponent", "nobody"], "")
    assert result.exit_code == 2


def test_against_a_checkpoint(tmp_path):
    from numbaplay.nn.params import NetSpec, init_params

    spec = NetSpec("mlp", 18, 8, 1, 9)
    path = tmp_path / "agent.npz"
    params = init_params(spec, 0)
    zeros = np.zeros_like(params)
    save_checkpoint(path, params=params, adam_m=zeros, adam_v=zeros, adam_t=0, spec=spec.array(),
                    pool=params[None], game="tictactoe", iteration=0, config={})
    result = run(["tictactoe", "--checkpoint", str(path), "--second"], "".join(f"{c}\n" for c in range(1, 10)))
    assert result.exit_code == 0, result.output
    assert "agent" in result.output and "plays" in result.output
    assert np.any([s in result.output for s in ("You win.", "wins.", "Draw.")])
