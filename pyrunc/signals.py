"""Signal names and numbers, as kill(1) and runc's `kill` take them.

Beside pyrunc/linux.py's tables, in a module of its own: `kill` is issued for every container and
needs only this one (linux.py's other tables cost it more than its own work).
"""

SIGNALS = {
    "SIGHUP": 1,
    "SIGINT": 2,
    "SIGQUIT": 3,
    "SIGILL": 4,
    "SIGTRAP": 5,
    "SIGABRT": 6,
    "SIGIOT": 6,
    "SIGBUS": 7,
    "SIGFPE": 8,
    "SIGKILL": 9,
    "SIGUSR1": 10,
    "SIGSEGV": 11,
    "SIGUSR2": 12,
    "SIGPIPE": 13,
    "SIGALRM": 14,
    "SIGTERM": 15,
    "SIGSTKFLT": 16,
    "SIGCHLD": 17,
    "SIGCLD": 17,
    "SIGCONT": 18,
    "SIGSTOP": 19,
    "SIGTSTP": 20,
    "SIGTTIN": 21,
    "SIGTTOU": 22,
    "SIGURG": 23,
    "SIGXCPU": 24,
    "SIGXFSZ": 25,
    "SIGVTALRM": 26,
    "SIGPROF": 27,
    "SIGWINCH": 28,
    "SIGIO": 29,
    "SIGPOLL": 29,
    "SIGPWR": 30,
    "SIGSYS": 31,
}
SIGRTMIN = 34
SIGRTMAX = 64


def parse_signal(value: str) -> int:
    """`KILL`, `SIGKILL`, `9`, `RTMIN+3` -> signal number; ValueError otherwise. `0` is valid: it
    signals nothing and only checks that the process exists (kill(2)); runc accepts it."""
    text = value.strip().upper()
    if text.isdigit():
        number = int(text)
        if 0 <= number <= SIGRTMAX:
            return number
        raise ValueError(f"invalid signal number {value}")
    name = text if text.startswith("SIG") else "SIG" + text
    if name in SIGNALS:
        return SIGNALS[name]
    for base, sign in (("SIGRTMIN", 1), ("SIGRTMAX", -1)):
        if name == base:
            return SIGRTMIN if sign > 0 else SIGRTMAX
        if name.startswith(base + ("+" if sign > 0 else "-")):
            offset = name[len(base) + 1 :]
            if offset.isdigit():
                number = (SIGRTMIN + int(offset)) if sign > 0 else (SIGRTMAX - int(offset))
                if SIGRTMIN <= number <= SIGRTMAX:
                    return number
    raise ValueError(f"unknown signal {value!r}")
