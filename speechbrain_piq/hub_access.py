"""Failing at once, with the fix, when the HuggingFace hub is needed but out
of reach.

Without ``HF_HUB_OFFLINE``, ``huggingface_hub`` asks the hub for every file,
even one already in its cache, and without a network each request waits
for its timeouts and retries. One short probe first tells a user within
seconds to set ``HF_HUB_OFFLINE=1`` (to use the cache) or to pass local
paths.
"""

import os
import re
import urllib.error
import urllib.request

from huggingface_hub import constants
from speechbrain.utils.fetching import FetchFrom, guess_source

# owner/name, as the hub spells repo ids.
HUB_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
PROBE_TIMEOUT_S = 3.0


def is_hub_source(source):
    """Whether ``fetch`` would read ``source`` from the HuggingFace hub.

    Arguments
    ---------
    source : str or speechbrain.utils.fetching.FetchSource
        A folder, an address, a repo id (``owner/name``) or a
        ``FetchSource``.

    Returns
    -------
    bool

    Example
    -------
    >>> is_hub_source("speechbrain/PIQ-ESC50")
    True
    >>> is_hub_source(str(getfixture("tmp_path")))
    False
    >>> is_hub_source("/no/such/folder")
    False
    """
    fetch_from, where = guess_source(source)
    return fetch_from == FetchFrom.HUGGING_FACE and bool(
        HUB_REPO_ID.fullmatch(os.fspath(where))
    )


def hub_reachable(timeout=PROBE_TIMEOUT_S):
    """Whether the hub's endpoint answers within ``timeout`` seconds.

    Any HTTP answer counts, an error status included: the hub is there.
    The request honours the usual proxy variables.

    Arguments
    ---------
    timeout : float
        Seconds to wait.

    Returns
    -------
    bool
    """
    request = urllib.request.Request(constants.ENDPOINT, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def check_hub_access(what, source, local_alternative):
    """Raises at once if ``source`` needs the hub and the hub is out of reach.

    Nothing is probed when ``source`` is local or an address, or when
    ``HF_HUB_OFFLINE`` is set (then ``huggingface_hub`` reads its cache).

    Arguments
    ---------
    what : str
        What is being fetched, for the message (e.g. ``the classifier``).
    source : str or speechbrain.utils.fetching.FetchSource
        Where it is fetched from.
    local_alternative : str
        How to point at local files instead, for the message.

    Raises
    ------
    ConnectionError
        If the hub is needed and does not answer.

    Example
    -------
    >>> check_hub_access("the interpreter", "/a/folder", "pass a folder")
    """
    if constants.HF_HUB_OFFLINE or not is_hub_source(source):
        return
    if hub_reachable():
        return
    _, repo_id = guess_source(source)
    raise ConnectionError(
        f"{what} comes from the HuggingFace hub ({repo_id}: no such local "
        f"folder), but "
        f"{constants.ENDPOINT} does not answer (no network?);"
        " set HF_HUB_OFFLINE=1 to use the files already in the hub cache, "
        f"or {local_alternative}"
    )
