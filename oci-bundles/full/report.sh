# Run inside the `full` bundle's container: print what the config set up.
echo "hostname:    $(hostname) ($(cat /proc/sys/kernel/domainname))"
echo "user:        $(id)"
echo "cwd:         $(pwd), umask $(umask)"
echo "env:         GREETING=$GREETING"
echo "nofile:      $(ulimit -n) (soft)"
echo "caps:        $(grep CapEff /proc/self/status)"
echo "nnp:         $(grep NoNewPrivs /proc/self/status)"
echo "oom adj:     $(cat /proc/self/oom_score_adj)"
echo "sysctl:      ip_unprivileged_port_start=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)"
echo "devices:     $(ls /dev | tr '\n' ' ')"
echo "data:        $(cat /data/readme.txt)"
if touch /newfile 2>/dev/null; then echo "rootfs:      writable"; else echo "rootfs:      read-only"; fi
if cat /proc/kcore >/dev/null 2>&1; then echo "kcore:       readable"; else echo "kcore:       masked"; fi
echo "memory.max:  $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"
