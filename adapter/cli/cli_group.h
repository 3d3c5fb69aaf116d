/*
 * cli_group.h - `evstore group ...`: consumer-group administration from the command line
 * (create, status, parked, replay-parked, delete). Uses the public header only.
 */
#ifndef EVS_CLI_GROUP_H
#define EVS_CLI_GROUP_H

/* 1 if argv's command (the first argument that is not a global option or its value) is
 * "group", else 0. */
int evs_cli_group_wanted(int argc, char **argv);

/* Runs `evstore [GLOBAL...] group SUBCOMMAND NAME [OPTIONS...]` and returns the exit code
 * (the CLI's exit codes: 0, 2 usage, 5 unavailable, 6 no such group, 1 other). */
int evs_cli_group_main(int argc, char **argv);

/* The usage text of `evstore group --help`. */
extern const char EVS_CLI_GROUP_USAGE[];

#endif /* EVS_CLI_GROUP_H */
