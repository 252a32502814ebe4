/* cli.h — subcommands of the `pst` program; each returns the process exit status. */
#ifndef PST_CLI_H
#define PST_CLI_H

int pst_cmd_train(int argc, char **argv);
int pst_cmd_inspect_model(int argc, char **argv);

#endif
