/*
 * cli_token.h - `evstore token new --scope SCOPE [--scope SCOPE...]`: makes a bearer token
 * for the projector's HTTP API (docs/SECURITY.md). Uses the public header only.
 */
#ifndef EVS_CLI_TOKEN_H
#define EVS_CLI_TOKEN_H

/* 1 if argv[1] is "token", else 0. */
int evs_cli_token_wanted(int argc, char **argv);

/* Runs `evstore token new ...`: prints the token on the first line of standard output and
 * the token file's line for it on the second (the token itself is not in that line, and is
 * never printed again). Returns the exit code: 0, or 2 on bad usage. */
int evs_cli_token_main(int argc, char **argv);

#endif /* EVS_CLI_TOKEN_H */
