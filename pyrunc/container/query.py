"""`state` and `list`: read-only views of the store."""

from pyrunc.container.base import load
from pyrunc.errors import NotFound
from pyrunc.state import Store, oci_state


def state(store: Store, container_id: str) -> dict:
    container = load(store, container_id)
    if not container.state:
        # A directory without state.json: a create that never got as far as writing it.
        return oci_state({"id": container_id}, container.status)
    return oci_state(container.state, container.status)


def list_states(store: Store) -> list[dict]:
    """Every container under the root; one whose state cannot be read is left out with a
    warning (as runc does), not the whole list."""
    from pyrunc import log
    from pyrunc.state import CorruptState

    states = []
    for container_id in store.list_ids():
        try:
            states.append(state(store, container_id))
        except NotFound:
            continue  # deleted while we listed
        except CorruptState as err:
            log.warning(str(err))
    return states
