/* process.terminal for the child (child.c): a pty from the container's own devpts, its master sent
 * to the console socket, its slave bound onto /dev/console and made the controlling tty and stdio.
 */
#include "child_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

int console_socket_fd(const struct child *c)
{
    struct rec r;
    struct cur cu;
    if (plan_find(c->plan, c->plan_len, T_FDS, &r) <= 0)
        return -1;
    cur_init(&cu, &r);
    for (int i = 0; i < 3; i++)
        (void)cur_u32(&cu);
    return (int)(int32_t)cur_u32(&cu);
}

static void send_pty_master(int sock, int master, const char *name)
{
    char control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {(void *)name, strlen(name)};
    struct msghdr msg;
    struct cmsghdr *cmsg;
    memset(&msg, 0, sizeof(msg));
    memset(control, 0, sizeof(control));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &master, sizeof(int));
    /* One message, exactly one fd, the pty's name as payload: what containerd and conmon expect. */
    if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
        die(errno, "send the pty master to the console socket");
}

/* process.terminal: a pty from the container's own devpts (its /dev/ptmx, resolved inside the
 * rootfs), the slave bound onto /dev/console and made our controlling tty and stdio. */
void setup_console(struct child *c)
{
    struct rec r;
    struct winsize ws;
    char name[64], target[64], source[64];
    int sock = console_socket_fd(c), master, slave, console, unlock = 0, ptn;
    if (sock < 0)
        return;
    master = open_in_root(c->rootfs_fd, "dev/ptmx", O_RDWR | O_NOCTTY);
    if (master < 0)
        die(errno, "open /dev/ptmx in the container (process.terminal needs a devpts mount on /dev/pts)");
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &ptn) < 0)
        die(errno, "unlock the pty");
    slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0)
        die(errno, "open the pty slave");
    snprintf(name, sizeof(name), "/dev/pts/%d", ptn);
    /* As runc (run and exec): the process's user owns its terminal, or it could not reopen it
     * ($(tty)) nor change its mode (mesg); the group stays devpts' (tty with gid=5). Ids not
     * mapped in a user namespace (EINVAL, EPERM) or a read-only devpts leave it as it is. */
    if (plan_find(c->plan, c->plan_len, T_USER, &r) > 0) {
        struct cur cu;
        uint32_t uid;
        cur_init(&cu, &r);
        uid = cur_u32(&cu);
        if (fchown(slave, (uid_t)uid, (gid_t)-1) < 0 && errno != EINVAL && errno != EPERM && errno != EROFS)
            die(errno, "give the terminal to uid %u", uid);
    }
    if (plan_find(c->plan, c->plan_len, T_CONSOLE_SIZE, &r) > 0) {
        struct cur cu;
        cur_init(&cu, &r);
        memset(&ws, 0, sizeof(ws));
        ws.ws_row = (unsigned short)cur_u32(&cu);
        ws.ws_col = (unsigned short)cur_u32(&cu);
        if (ioctl(slave, TIOCSWINSZ, &ws) < 0)
            die(errno, "set the console size");
    }
    /* Without a mount namespace the bind would be the host's: the pty is the stdio only. */
    if (!has_tag(c, T_EXEC) && !has_tag(c, T_CHROOT)) {
        console = create_dest(c->rootfs_fd, "dev/console", DEST_FILE, 0, "/dev/console");
        fd_path(target, sizeof(target), console);
        fd_path(source, sizeof(source), slave);
        if (mount(source, target, NULL, MS_BIND, NULL) < 0)
            die(errno, "bind the pty onto /dev/console");
        close(console);
    }
    send_pty_master(sock, master, name);
    close(master);
    close(sock);
    if (setsid() < 0)
        die(errno, "setsid");
    if (ioctl(slave, TIOCSCTTY, 0) < 0)
        die(errno, "make the pty the controlling terminal");
    for (int fd = 0; fd < 3; fd++)
        if (dup2(slave, fd) < 0)
            die(errno, "dup the pty onto stdio");
    close(slave);
}
