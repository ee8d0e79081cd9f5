"""ttrpc, containerd's RPC protocol over a unix socket (containerd/ttrpc PROTOCOL.md).

A frame is a 10-byte header -- data length (uint32), stream id (uint32), message type (uint8), flags
(uint8), all big-endian -- and its data, at most 4 MiB. A client starts a stream (odd ids) with a
Request frame whose data is a `ttrpc.Request` (service, method, protobuf payload); the server ends it
with a Response frame whose data is a `ttrpc.Response` (a google.rpc.Status-shaped status and the
payload). Only unary calls are used by containerd's task API; streams run concurrently.

The framing (encode_frame, FrameDecoder) is pure; Server and Client add sockets, threads and the
protobuf envelopes (pyrunc/shim/proto/ttrpc.proto).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable

HEADER = struct.Struct(">IIBB")
HEADER_SIZE = HEADER.size  # 10
MAX_DATA = 4 << 20

TYPE_REQUEST = 1
TYPE_RESPONSE = 2
TYPE_DATA = 3
FLAG_REMOTE_CLOSED = 1
FLAG_REMOTE_OPEN = 2

# google.rpc codes, as containerd's errdefs maps them back to its errors.
OK = 0
CANCELED = 1
UNKNOWN = 2
INVALID_ARGUMENT = 3
DEADLINE_EXCEEDED = 4
NOT_FOUND = 5
ALREADY_EXISTS = 6
FAILED_PRECONDITION = 9
UNIMPLEMENTED = 12
INTERNAL = 13
UNAVAILABLE = 14


class ProtocolError(Exception):
    """The peer broke the framing: the connection cannot go on."""


class RpcError(Exception):
    """A call's failure: a status code and its message (what the peer receives, or received)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Frame:
    __slots__ = ("data", "flags", "kind", "stream_id")

    def __init__(self, stream_id: int, kind: int, flags: int, data: bytes) -> None:
        self.stream_id = stream_id
        self.kind = kind
        self.flags = flags
        self.data = data

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frame):
            return NotImplemented
        return (self.stream_id, self.kind, self.flags, self.data) == (
            other.stream_id,
            other.kind,
            other.flags,
            other.data,
        )

    def __repr__(self) -> str:
        return f"Frame(stream={self.stream_id}, kind={self.kind}, flags={self.flags}, {len(self.data)} bytes)"


def encode_frame(stream_id: int, kind: int, data: bytes, flags: int = 0) -> bytes:
    if len(data) > MAX_DATA:
        raise ProtocolError(f"frame data of {len(data)} bytes is over ttrpc's limit of {MAX_DATA}")
    return HEADER.pack(len(data), stream_id, kind, flags) + data


class FrameDecoder:
    """Bytes in (any split), whole frames out."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self.buffer += data
        frames = []
        while len(self.buffer) >= HEADER_SIZE:
            length, stream_id, kind, flags = HEADER.unpack_from(self.buffer)
            if length > MAX_DATA:
                raise ProtocolError(f"frame of {length} bytes on stream {stream_id}: over the 4 MiB limit")
            end = HEADER_SIZE + length
            if len(self.buffer) < end:
                break
            frames.append(Frame(stream_id, kind, flags, bytes(self.buffer[HEADER_SIZE:end])))
            del self.buffer[:end]
        return frames


def _pb():
    from pyrunc.shim import messages

    return messages.ttrpc


# A handler takes the request's payload bytes and returns the response's payload bytes (or raises
# RpcError); the Server knows nothing of the services' messages.
Handler = Callable[[bytes], bytes]

_serving = threading.local()  # each request has a thread of its own (Server._call)


def deadline() -> float | None:
    """The time.monotonic() by which the caller of the request this thread serves wants its
    answer: the request's timeout_nano, which containerd sets from its context's deadline (CRI's
    calls have kubelet's, `ctr --timeout` sets one); None when the caller gave none."""
    return getattr(_serving, "deadline", None)


class Server:
    """Serves registered methods on a listening unix socket: one thread per connection reads frames,
    one thread per request runs its handler (a Wait may block for as long as a container runs), and
    responses are written whole under the connection's lock."""

    def __init__(self, listener: socket.socket, log: Callable[[str], None] | None = None) -> None:
        self.listener = listener
        self.handlers: dict[str, Handler] = {}
        self.log = log or (lambda msg: None)
        self.closed = False
        self.connections: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.active = 0  # calls being handled or answered
        self.idle = threading.Condition(self.lock)

    def register(self, service: str, method: str, handler: Handler) -> None:
        self.handlers[f"/{service}/{method}"] = handler

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve, name="ttrpc-accept", daemon=True)
        thread.start()
        return thread

    def serve(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                if self.closed:
                    return
                raise
            with self.lock:
                self.connections.add(conn)
            threading.Thread(target=self._connection, args=(conn,), name="ttrpc-conn", daemon=True).start()

    def close_after_calls(self, timeout: float) -> None:
        """Close once the calls in progress are answered (a Shutdown's own answer among them)."""
        with self.idle:
            self.idle.wait_for(lambda: self.active == 0, timeout)
        self.close()

    def close(self) -> None:
        self.closed = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            for conn in self.connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _connection(self, conn: socket.socket) -> None:
        decoder = FrameDecoder()
        write_lock = threading.Lock()
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                for frame in decoder.feed(data):
                    if frame.kind != TYPE_REQUEST:
                        # Data frames belong to streaming calls, which the task API has none of.
                        self._respond(conn, write_lock, frame.stream_id, b"", UNIMPLEMENTED, "streams")
                        continue
                    threading.Thread(
                        target=self._call, args=(conn, write_lock, frame), name="ttrpc-call", daemon=True
                    ).start()
        except (OSError, ProtocolError) as err:
            self.log(f"ttrpc connection closed: {err}")
        finally:
            with self.lock:
                self.connections.discard(conn)
            conn.close()

    def _call(self, conn: socket.socket, write_lock: threading.Lock, frame: Frame) -> None:
        with self.lock:
            self.active += 1
        try:
            self._answer(conn, write_lock, frame)
        finally:
            with self.idle:
                self.active -= 1
                self.idle.notify_all()

    def _answer(self, conn: socket.socket, write_lock: threading.Lock, frame: Frame) -> None:
        pb = _pb()
        code, message, payload = OK, "", b""
        try:
            request = pb.Request.FromString(frame.data)
            timeout = request.timeout_nano / 1e9
            _serving.deadline = time.monotonic() + timeout if timeout > 0 else None
            handler = self.handlers.get(f"/{request.service}/{request.method}")
            if handler is None:
                raise RpcError(UNIMPLEMENTED, f"{request.service}.{request.method} is not implemented")
            payload = handler(request.payload)
        except RpcError as err:
            code, message = err.code, err.message
        except Exception as err:  # a bug: the caller still gets an answer, the log the details
            import traceback

            self.log(f"ttrpc handler failed: {traceback.format_exc()}")
            code, message = UNKNOWN, f"{type(err).__name__}: {err}"
        self._respond(conn, write_lock, frame.stream_id, payload, code, message)

    @staticmethod
    def _respond(
        conn: socket.socket,
        write_lock: threading.Lock,
        stream_id: int,
        payload: bytes,
        code: int,
        message: str,
    ) -> None:
        pb = _pb()
        response = pb.Response(payload=payload)
        if code != OK:
            response.status.code = code
            response.status.message = message
        else:
            response.status.SetInParent()
        data = encode_frame(stream_id, TYPE_RESPONSE, response.SerializeToString())
        with write_lock:
            try:
                conn.sendall(data)
            except OSError:
                pass  # the client went away; nothing to tell


class Client:
    """A ttrpc client on one connection: calls are serialized (one in flight), which is all the
    event publisher and the tests need."""

    def __init__(self, path: str, timeout: float = 10.0) -> None:
        if path.startswith("unix://"):
            path = path[len("unix://") :]
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.next_stream = 1
        self.decoder = FrameDecoder()
        self.lock = threading.Lock()

    def call(self, service: str, method: str, payload: bytes, timeout: float | None = None) -> bytes:
        """The response payload, or RpcError with the server's status."""
        pb = _pb()
        request = pb.Request(service=service, method=method, payload=payload)
        if timeout is not None:
            request.timeout_nano = int(timeout * 1e9)
        with self.lock:
            stream_id = self.next_stream
            self.next_stream += 2
            self.sock.settimeout(timeout)
            self.sock.sendall(encode_frame(stream_id, TYPE_REQUEST, request.SerializeToString()))
            while True:
                data = self.sock.recv(65536)
                if not data:
                    raise RpcError(UNAVAILABLE, f"ttrpc server at {self.path} closed the connection")
                for frame in self.decoder.feed(data):
                    if frame.stream_id != stream_id or frame.kind != TYPE_RESPONSE:
                        continue
                    response = pb.Response.FromString(frame.data)
                    if response.status.code != OK:
                        raise RpcError(response.status.code, response.status.message)
                    return response.payload

    def close(self) -> None:
        self.sock.close()
