/* cmd.h: the nmo-node subcommands, one file each (cmd-NAME.c). Each takes the
 * arguments from its name on (argv[0] is the command name) and returns the
 * process exit code (cli.h). */
#pragma once

int cmd_init(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_vocabulary(int argc, char **argv);
int cmd_alerts(int argc, char **argv);
int cmd_rotate(int argc, char **argv);
