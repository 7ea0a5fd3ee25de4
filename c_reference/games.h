/* Tic-Tac-Toe and Connect Four on bitboards (docs/ALGORITHM.md "Game state").
 * A position is int64[4]: first player's bits, second player's bits, ply, status
 * (0 ongoing, 1 first player won, 2 second player won, 3 draw). */
#ifndef NBP_GAMES_H
#define NBP_GAMES_H

#include <stdint.h>

enum { GAME_TICTACTOE = 0, GAME_CONNECT4 = 1 };
enum { ST_ONGOING = 0, ST_FIRST_WON = 1, ST_SECOND_WON = 2, ST_DRAW = 3 };
#define GAME_MAX_ACTIONS 9
#define GAME_MAX_OBS 84
#define GAME_MAX_PLIES 42

typedef struct {
    int id;
    int n_cells;        /* board cells; obs_size = 2 n_cells */
    int obs_size;
    int n_actions;
    int max_plies;
    int max_moves;      /* most moves one seat makes: ceil(max_plies / 2) */
} GameInfo;

/* Fill info for game id; returns 0, or -1 for an unknown id. */
int game_info(int id, GameInfo *info);
void game_reset(int64_t *st);
/* 1 if action is a legal move in st (ongoing game, in range, empty cell or column with room). */
int game_legal(int id, const int64_t *st, int64_t action);
/* Legal mask: mask[a] = 1 where legal; all 0 at a terminal position. */
void game_mask(int id, const int64_t *st, uint8_t *mask);
/* Planar observation from the side to move (SPEC section 2): obs[c] mine, obs[n_cells + c] theirs. */
void game_obs(int id, const int64_t *st, float *obs);
/* Play a legal action for the side to move; updates ply and status. */
void game_play(int id, int64_t *st, int action);

#endif
