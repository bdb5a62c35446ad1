"""Where an interpreter comes from: a local folder or a hub repo id.

SpeechBrain's ``fetch`` treats anything that is not an existing folder as a
HuggingFace repo id, so a mistyped folder surfaces as a hub error. These
helpers tell the two apart first and fail with a message that says which
was meant and how to fix it.
"""

import os

import ruamel.yaml
from speechbrain.utils.fetching import FetchConfig, LocalStrategy, fetch

from speechbrain_piq.hub_access import HUB_REPO_ID, check_hub_access

# Top-level entries that SpeechBrain's Pretrained.from_hparams reads.
LOADING_KEYS = ("modules", "pretrainer")

HOW_TO_GET_ONE = (
    "export a training run with 'speechbrain-piq export RUN_DIR OUT_DIR' "
    "or pass a HuggingFace repo id such as speechbrain/PIQ-ESC50"
)
FETCH_AGAIN = (
    "export the folder again ('speechbrain-piq export RUN_DIR OUT_DIR'), "
    "or delete the file from the hub cache to download it again"
)


def resolve_source(source):
    """Returns ``source`` as ``fetch`` should see it, or raises.

    Arguments
    ---------
    source : str or os.PathLike
        A local folder, a hub repo id (``owner/name``) or an ``http(s)``
        address.

    Returns
    -------
    str
        The absolute path of a local folder, else ``source`` unchanged.

    Raises
    ------
    FileNotFoundError
        If ``source`` is neither an existing folder, a repo id nor an
        address.

    Example
    -------
    >>> resolve_source("speechbrain/PIQ-ESC50")
    'speechbrain/PIQ-ESC50'
    >>> resolve_source("/no/such/folder")
    Traceback (most recent call last):
    ...
    FileNotFoundError: /no/such/folder is neither a folder nor a HuggingFace repo id (owner/name); ...
    """
    text = os.fspath(source)
    if os.path.isdir(text):
        return os.path.abspath(text)
    if text.startswith(("http://", "https://")) or HUB_REPO_ID.fullmatch(text):
        return text
    raise FileNotFoundError(
        f"{text} is neither a folder nor a HuggingFace repo id "
        f"(owner/name); {HOW_TO_GET_ONE}"
    )


def fetch_hparams(
    source,
    hparams_file="hyperparams.yaml",
    savedir=None,
    local_strategy=LocalStrategy.SYMLINK,
    fetch_config=None,
):
    """Fetches the interpreter's yaml, with a clear error when it is missing.

    Arguments
    ---------
    source : str
        As returned by :func:`resolve_source`.
    hparams_file : str
        Name of the yaml inside ``source``.
    savedir : str, optional
        Where ``fetch`` links or copies the file.
    local_strategy : speechbrain.utils.fetching.LocalStrategy
        As for ``fetch``.
    fetch_config : speechbrain.utils.fetching.FetchConfig, optional
        As for ``fetch``.

    Returns
    -------
    pathlib.Path
        Local path of the yaml.

    Raises
    ------
    FileNotFoundError
        If a local folder has no such file, or the hub cannot provide it.
    ConnectionError
        If ``source`` is a hub repo, the hub does not answer and
        ``HF_HUB_OFFLINE`` is not set.

    Example
    -------
    >>> folder = getfixture("tmp_path")
    >>> fetch_hparams(str(folder))
    Traceback (most recent call last):
    ...
    FileNotFoundError: ... has no hyperparams.yaml, so it is not a PIQ interpreter folder; ...
    """
    if os.path.isdir(source):
        if not os.path.isfile(os.path.join(source, hparams_file)):
            raise FileNotFoundError(
                f"{source} has no {hparams_file}, so it is not a PIQ "
                f"interpreter folder; {HOW_TO_GET_ONE}"
            )
    check_hub_access(
        "the interpreter",
        source,
        "pass a folder written by 'speechbrain-piq export' as --source",
    )
    try:
        return fetch(
            hparams_file,
            source=source,
            savedir=savedir,
            local_strategy=local_strategy,
            fetch_config=fetch_config or FetchConfig(),
        )
    except (OSError, ValueError) as error:
        reason = " ".join(str(error).split())
        raise FileNotFoundError(
            f"could not fetch {hparams_file} from {source} ({reason}); "
            "check the repo id and your network, or pass a local folder"
        ) from error


def hparams_keys(yaml_path):
    r"""The top-level keys of an interpreter's HyperPyYAML file, checked
    for the entries ``Pretrained.from_hparams`` reads (nothing is built).

    Arguments
    ---------
    yaml_path : str or os.PathLike
        The yaml file.

    Returns
    -------
    set of str

    Raises
    ------
    ValueError
        If the file is not YAML, is empty, or lacks ``modules`` or
        ``pretrainer``.

    Example
    -------
    >>> path = getfixture("tmp_path") / "hyperparams.yaml"
    >>> _ = path.write_text("modules: {}\npretrainer: !new:dict\nrate: 1")
    >>> sorted(hparams_keys(path))
    ['modules', 'pretrainer', 'rate']
    >>> _ = path.write_text("modules: [")
    >>> hparams_keys(path)
    Traceback (most recent call last):
    ...
    ValueError: .../hyperparams.yaml is not readable YAML (while parsing ... line 1, column 11): it is truncated or damaged; ...
    """
    try:
        with open(yaml_path, encoding="utf-8") as stream:
            tree = ruamel.yaml.YAML().load(stream)
    except (ruamel.yaml.YAMLError, UnicodeDecodeError) as error:
        reason = " ".join(str(error).split())
        raise ValueError(
            f"{yaml_path} is not readable YAML ({reason}): it is truncated "
            f"or damaged; {FETCH_AGAIN}"
        ) from error
    if not isinstance(tree, dict):
        raise ValueError(
            f"{yaml_path} holds no hyperparameters (it is empty or not a "
            f"mapping); {FETCH_AGAIN}"
        )
    missing = [key for key in LOADING_KEYS if key not in tree]
    if missing:
        raise ValueError(
            f"{yaml_path} has no {' or '.join(missing)} entry, which every "
            f"interpreter yaml defines; {FETCH_AGAIN}"
        )
    return set(tree)


def check_repo_id(repo_id):
    """Returns ``repo_id`` if it is a hub repo id (``owner/name``).

    Arguments
    ---------
    repo_id : str
        The repo id to check.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If it is not ``owner/name``.

    Example
    -------
    >>> check_repo_id("me/my-piq")
    'me/my-piq'
    >>> check_repo_id("my-piq")
    Traceback (most recent call last):
    ...
    ValueError: 'my-piq' is not a HuggingFace repo id; give owner/name, e.g. me/my-piq
    """
    if not HUB_REPO_ID.fullmatch(repo_id):
        raise ValueError(
            f"{repo_id!r} is not a HuggingFace repo id; give owner/name, "
            "e.g. me/my-piq"
        )
    return repo_id
