"""containerd-shim-pyrunc-v1: containerd's runtime v2 shim hosting pyrunc's operations in-process (issue 14).

ttrpc.py (the protocol), service.py (containerd.task.v2.Task), stdio.py, rootfs.py, main.py (the
command: start, delete, serve). Never imported by the pyrunc CLI (protobuf stays off its path)."""
