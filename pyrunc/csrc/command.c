/*
 * The `pyrunc` command a wheel installs (setup.py builds it; pyrunc/launcher.py tells the whole story).
 *
 * pip installs a wheel's scripts as they are, rewriting only a `#!python` first line and dropping its
 * arguments, so no script can start the interpreter with -I -S by itself: the script form starts as
 * sh, which execs the interpreter (launcher.py SCRIPT), and sh costs 0.95 ms a command here against
 * 0.3 ms for this static program. It does what that sh part does: the interpreter beside the
 * command's own file (PREFIX/bin/python3, symlinks to the command resolved, so `runc` linked to it
 * works), started with -I -S on pyrunc/_wheel_command.py in PREFIX's site-packages. Laid out
 * otherwise, it leaves the finding to python3 on PATH, with site, as any package is found.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PYTHON_DIR
#error "PYTHON_DIR (the build interpreter's pythonX.Y) comes from setup.py"
#endif

static const char *const SITES[] = {
    "/lib/" PYTHON_DIR "/site-packages",
    "/lib64/" PYTHON_DIR "/site-packages",
    "/lib/" PYTHON_DIR "/dist-packages",
    "/lib64/" PYTHON_DIR "/dist-packages",
};
#define ENTRY "/pyrunc/_wheel_command.py"

static int run(const char *file, char **head, int n_head, int argc, char **argv)
{
    char **args = calloc((size_t)n_head + (size_t)argc + 1, sizeof *args);
    if (!args) {
        fprintf(stderr, "pyrunc: out of memory\n");
        return 127;
    }
    memcpy(args, head, (size_t)n_head * sizeof *args);
    memcpy(args + n_head, argv + 1, (size_t)(argc - 1) * sizeof *args);
    execvp(file, args);
    fprintf(stderr, "pyrunc: cannot run %s: %s\n", file, strerror(errno));
    return 127;
}

/* PREFIX of this command's own file (PREFIX/bin/pyrunc), with `python` set to PREFIX/bin/python3;
 * 0 if there is none such. */
static int find_prefix(char *prefix, size_t size, char *python, size_t python_size)
{
    ssize_t n = readlink("/proc/self/exe", prefix, size - 1);
    if (n <= 0)
        return 0;
    prefix[n] = '\0';
    char *slash = strrchr(prefix, '/');
    if (!slash)
        return 0;
    *slash = '\0'; /* PREFIX/bin */
    if (snprintf(python, python_size, "%s/python3", prefix) >= (int)python_size || access(python, X_OK))
        return 0;
    slash = strrchr(prefix, '/');
    if (!slash)
        return 0;
    *slash = '\0';
    return 1;
}

int main(int argc, char **argv)
{
    char prefix[PATH_MAX], python[PATH_MAX + 16], entry[PATH_MAX + 64];
    if (argc < 1)
        return 127;
    if (find_prefix(prefix, sizeof prefix, python, sizeof python)) {
        for (size_t i = 0; i < sizeof SITES / sizeof *SITES; i++) {
            if (snprintf(entry, sizeof entry, "%s%s%s", prefix, SITES[i], ENTRY) >= (int)sizeof entry)
                continue;
            if (access(entry, R_OK) == 0) {
                char *head[] = {python, "-I", "-S", entry};
                return run(python, head, 4, argc, argv);
            }
        }
    }
    char *head[] = {"python3", "-c", "from pyrunc.main import main; main()"};
    return run("python3", head, 3, argc, argv);
}
