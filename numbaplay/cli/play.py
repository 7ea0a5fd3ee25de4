"""`numbaplay play GAME`: play against a trained agent or a reference player in the terminal."""
from __future__ import annotations

import sys

import click
import numpy as np

from numbaplay.cli.common import guarded
from numbaplay.config import MAX_SEED
from numbaplay.games.core import get_game, is_legal, legal_mask, observe
from numbaplay.games.core import play as play_move
from numbaplay.rng import EVAL, key_below, stream_key

C4_OPPONENTS = ("random", "heuristic", *(f"ab{d}" for d in range(1, 9)), "perfect")
TTT_OPPONENTS = ("random", "perfect")
DEFAULT_OPPONENT = {"connect4": "ab4", "tictactoe": "perfect"}
MARKS = ("X", "O")


def draw_board(game, state) -> str:
    """The board as text: X for the first player, O for the second."""
    first, second = int(state[0]), int(state[1])
    if game.name == "connect4":
        rows = []
        for row in range(5, -1, -1):
            cells = []
            for col in range(7):
                bit = 1 << (col * 7 + row)
                cells.append("X" if first & bit else "O" if second & bit else ".")
            rows.append(" ".join(cells))
        rows.append(" ".join(str(c) for c in range(1, 8)))
        return "\n".join(rows)
    lines = []
    for r in range(3):
        cells = []
        for c in range(3):
            cell = 3 * r + c
            cells.append("X" if first >> cell & 1 else "O" if second >> cell & 1 else str(cell + 1))
        lines.append(" " + " | ".join(cells))
    return "\n---+---+---\n".join(lines)


def _legal(game, state) -> np.ndarray:
    mask = np.zeros(game.n_actions, dtype=np.uint8)
    legal_mask(game.gid, mask, state)
    return np.flatnonzero(mask)


class _Random:
    """Uniform legal move from draw `ply` of the EVAL stream of game 0."""

    def __init__(self, game, seed):
        self.game = game
        self.key = np.uint64(stream_key(np.uint64(seed), EVAL, 0, 0))

    def __call__(self, state) -> int:
        legal = _legal(self.game, state)
        return int(legal[key_below(self.key, int(state[2]), len(legal))])


class _TicTacToePerfect(_Random):
    """Uniform among the moves that keep the minimax value (random draw as `_Random`)."""

    def __init__(self, game, seed):
        super().__init__(game, seed)
        from numbaplay.eval.tictactoe_exact import enumerate_positions, minimax_values

        positions = enumerate_positions()
        self.index = {(int(p[0]), int(p[1])): k for k, p in enumerate(positions)}
        self.value = minimax_values()

    def __call__(self, state) -> int:
        legal = _legal(self.game, state)
        scores = []
        for a in legal:
            child = state.copy()
            play_move(self.game.gid, child, int(a))
            scores.append(-int(self.value[self.index[(int(child[0]), int(child[1]))]]))
        best = [int(a) for a, s in zip(legal, scores) if s == max(scores)]
        return best[key_below(self.key, int(state[2]), len(best))]


class _Reference:
    """A Connect Four reference player from the ladder's registry."""

    def __init__(self, name, seed):
        from numbaplay.eval.players import make_player

        self.player = make_player(name)
        self.seed = seed

    def __call__(self, state) -> int:
        return int(self.player.select(state[None, :], np.zeros(1, np.int64), self.seed)[0])


class _Greedy:
    """A trained agent: argmax of the legal logits, ties to the lowest index."""

    def __init__(self, game, agent):
        self.game = game
        self.agent = agent

    def __call__(self, state) -> int:
        obs = np.zeros((1, self.game.obs_size), dtype=np.float32)
        observe(self.game.gid, obs[0], state)
        legal = _legal(self.game, state)
        logits = self.agent.forward(obs)[0][0]
        return int(legal[np.argmax(logits[legal])])


def _opponent(game, checkpoint, opponent, seed):
    """(callable state -> action, display name)."""
    if checkpoint:
        from numbaplay.agent import load_agent

        agent = load_agent(checkpoint)
        if agent.game != game.name:
            raise click.BadParameter(f"the checkpoint plays {agent.game}, not {game.name}",
                                     param_hint="--checkpoint")
        return _Greedy(game, agent), f"agent (iteration {agent.iteration})"
    name = opponent or DEFAULT_OPPONENT[game.name]
    choices = C4_OPPONENTS if game.name == "connect4" else TTT_OPPONENTS
    if name not in choices:
        raise click.BadParameter(f"{name!r} is not an opponent for {game.name}; choose one of "
                                 f"{', '.join(choices)}", param_hint="--opponent")
    if game.name == "connect4":
        return _Reference(name, seed), name
    return (_Random(game, seed) if name == "random" else _TicTacToePerfect(game, seed)), name


@click.command("play")
@click.argument("game_name", metavar="GAME", type=click.Choice(["tictactoe", "connect4"]))
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False),
              help="Play against this trained agent (it plays greedily).")
@click.option("--opponent", default=None,
              help="A reference opponent instead of a checkpoint. connect4: random, heuristic, ab1..ab8, "
                   "perfect (default ab4); tictactoe: random, perfect (default perfect).")
@click.option("--first/--second", "human_first", default=True, show_default=True,
              help="Move first (X) or second (O).")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True,
              help="Seed of the opponent's random choices.")
@guarded
def play(game_name, checkpoint, opponent, human_first, seed):
    """Play GAME in the terminal: type a column (connect4, 1-7) or a cell (tictactoe, 1-9); q quits."""
    if checkpoint and opponent:
        raise click.UsageError("give either --checkpoint or --opponent, not both")
    game = get_game(game_name)
    move_opponent, opp_name = _opponent(game, checkpoint, opponent, seed)
    human = 0 if human_first else 1
    what = "column" if game.name == "connect4" else "cell"
    stdin = sys.stdin
    interactive = stdin.isatty()
    click.echo(f"{game.name}: you play {MARKS[human]} ({'first' if human == 0 else 'second'}) "
               f"against {opp_name}; type a {what} 1-{game.n_actions}, or q to quit.")
    state = game.new_states(1)[0]
    click.echo(draw_board(game, state))
    while state[3] == 0:
        if int(state[2]) % 2 == human:
            click.echo(f"your move ({MARKS[human]}): ", nl=False)
            line = stdin.readline()
            if not line:
                click.echo("\nend of input: game abandoned.")
                return
            if not interactive:
                click.echo(line.rstrip("\n"))  # piped input: show it, so the transcript reads as a game
            text = line.strip().lower()
            if text in ("q", "quit", "exit"):
                click.echo("game abandoned.")
                return
            if not text.isdigit() or not 1 <= int(text) <= game.n_actions:
                click.echo(f"{text!r} is not a move: type a {what} from 1 to {game.n_actions}, or q to quit.")
                continue
            action = int(text) - 1
            if not is_legal(game.gid, state, action):
                click.echo(f"{what} {text} is {'full' if game.name == 'connect4' else 'taken'}; try another.")
                continue
        else:
            action = move_opponent(state)
            click.echo(f"{opp_name} ({MARKS[1 - human]}) plays {action + 1}")
        play_move(game.gid, state, action)
        click.echo(draw_board(game, state))
    status = int(state[3])
    if status == 3:
        click.echo("Draw.")
    elif status - 1 == human:
        click.echo("You win.")
    else:
        click.echo(f"{opp_name} wins.")
