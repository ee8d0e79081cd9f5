"""`state` and `list`: read-only views of the store."""

from pyrunc.container.base import load
from pyrunc.errors import NotFound
from pyrunc.store import Store


def state(store: Store, container_id: str) -> dict:
    container = load(store, container_id)
    if not container.state:
        # A directory without state.json: a create that never got as far as writing it.
        return oci_state({"id": container_id}, container.status)
    return oci_state(container.state, container.status)


def list_states(store: Store) -> list[dict]:
    """Every container under the root; one whose state cannot be read is left out with a
    warning (as runc does), not the whole list. As in runc's list (not its state), `owner` is
    the user owning the container's directory."""
    from pyrunc import log
    from pyrunc.store import CorruptState, ForeignContainer

    states = []
    names: dict[int, str] = {}
    for container_id in store.list_ids():
        try:
            entry = state(store, container_id)
            entry["owner"] = _owner(store.owner_uid(container_id), names)
        except NotFound:
            continue  # deleted while we listed
        except CorruptState as err:
            log.warning(str(err))
            continue
        except ForeignContainer as err:
            # Another runtime's container in a shared root: its state is not ours to show (we
            # could not derive it truthfully), nor worth a warning on every list there.
            log.debug(f"list: {err}")
            continue
        states.append(entry)
    return states


def _owner(uid: int, names: dict[int, str]) -> str:
    """The user name of `uid`, or `#UID` when it has none (runc's spelling)."""
    if uid not in names:
        import pwd

        try:
            names[uid] = pwd.getpwuid(uid).pw_name
        except KeyError:
            names[uid] = f"#{uid}"
    return names[uid]


def oci_state(state: dict, status: str) -> dict:
    """The state JSON of `pyrunc state`: the OCI fields plus runc's rootfs, created and owner,
    in runc's order."""
    out = {
        "ociVersion": state.get("ociVersion", ""),
        "id": state.get("id", ""),
        "pid": state.get("pid", 0) if status != "stopped" else 0,
        "status": status,
        "bundle": state.get("bundle", ""),
        "rootfs": state.get("rootfs", ""),
        "created": state.get("created", ""),
    }
    if state.get("annotations"):
        out["annotations"] = state["annotations"]
    out["owner"] = state.get("owner", "")
    return out
