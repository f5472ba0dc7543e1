"""`path_under`: untrusted names become paths under a root, or one clear error."""

import pytest
from jsonschema import Draft202012Validator

from mars_zoo.embedding.cache import EmbeddingCache, cache_key
from mars_zoo.core.errors import MarsZooError
from mars_zoo.schema.results_schema import load_schema
from mars_zoo.core.safe_paths import path_under

FIX = "rename it"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
# Names the layouts of mars-zoo's outputs are made of: each must pass unchanged.
PLAIN = ["openclip", "vit-l-16-siglip2-512__reported.json", "timm__ViT-L-16-SigLIP2-512", COMMIT,
         "no_revision_available", "ViT-B-32_(random_init,_tiny)", "openclip__tiny-random", "résumé.pt",
         "..x", "x..", "...", ".hidden", "a b", "x" * 255]
# (name, what the message says about it)
HOSTILE = [
    ("", "is empty"),
    (".", "is '.'"),
    ("..", "is '..'"),
    ("a/b", "holds '/', a path separator"),
    ("../x", "holds '/', a path separator"),
    ("/etc", "is an absolute path"),
    ("a\\..\\b", "holds '\\\\', a path separator"),
    ("\\server", "is an absolute path"),
    ("a\nb", "control character '\\n'"),
    ("a\x00b", "control character '\\x00'"),
    ("w\x1b[2J", "control character '\\x1b'"),
    ("del\x7f", "control character '\\x7f'"),
    ("x" * 256, "longer than the 255 bytes"),
    ("é" * 128, "longer than the 255 bytes"),  # 256 bytes in UTF-8
    ("\udcff.pt", "not UTF-8"),  # a file name byte that is not UTF-8, as Python keeps it
]


@pytest.mark.parametrize("name", PLAIN)
def test_plain_names_are_joined_unchanged(tmp_path, name):
    assert path_under(tmp_path, "folder", name, field="f", fix=FIX) == tmp_path / "folder" / name


@pytest.mark.parametrize("name, says", HOSTILE)
def test_hostile_names_are_refused_naming_field_value_and_fix(tmp_path, name, says):
    with pytest.raises(MarsZooError) as caught:
        path_under(tmp_path, "ok", name, field="model.revision", fix=FIX)
    message = str(caught.value)
    assert message.startswith(f"model.revision: {name!r} is not a plain file or folder name: it ")
    assert says in message and message.endswith(f"Fix: {FIX}.")


def test_a_link_that_leads_out_of_the_root_is_refused(tmp_path):
    root, outside = tmp_path / "out", tmp_path / "outside"
    (root / "inner").mkdir(parents=True)
    outside.mkdir()
    (root / "inner" / "away").symlink_to(outside, target_is_directory=True)
    (root / "near").symlink_to(root / "inner", target_is_directory=True)
    with pytest.raises(MarsZooError) as caught:
        path_under(root, "inner", "away", "file.json", field="--out", fix=FIX)
    assert f"{root / 'inner' / 'away' / 'file.json'} leads outside {root} through the symbolic link " \
           f"{root / 'inner' / 'away'}" in str(caught.value)
    assert "remove that link" in str(caught.value)
    assert path_under(root, "near", "file.json", field="--out", fix=FIX) == root / "near" / "file.json"  # stays inside


def test_a_root_that_is_itself_a_link_is_the_folder_named(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "named").symlink_to(tmp_path / "real", target_is_directory=True)
    assert path_under(tmp_path / "named", "x", field="f", fix=FIX) == tmp_path / "named" / "x"


def test_a_loop_of_links_is_one_clear_error(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(MarsZooError, match="loop of symbolic links"):
        path_under(tmp_path, "a", "x", field="f", fix=FIX)


def _schema_accepts(definition: str, value) -> bool:
    schema = load_schema()
    return Draft202012Validator({"$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}).is_valid(value)


def _writable(tmp_path, *names: str) -> bool:
    try:
        path_under(tmp_path, *names, field="f", fix=FIX)
    except MarsZooError:
        return False
    return True


@pytest.mark.parametrize("name", [*PLAIN[:-1], *(name for name, _ in HOSTILE[:-3]), "org/name", "a/b/c"])
def test_the_result_schema_refuses_exactly_the_names_path_under_refuses(tmp_path, name):
    """`mars-zoo validate` and the writers agree: a result holds no name a writer would refuse
    (names of 201 to 255 bytes aside: results cap names at 200 characters). A repository id is
    one name or two joined by one '/'; a model name is '<family>/' and one name."""
    writable = _writable(tmp_path, name)
    parts = name.split("/")
    assert _schema_accepts("fileName", name) == writable
    assert _schema_accepts("repositoryOrNull", name) == (len(parts) <= 2 and _writable(tmp_path, *parts))
    model = {"name": f"openclip/{name}", "family": "openclip", "modalities": ["image"]}
    assert _schema_accepts("model", model) == writable


def test_the_cache_keeps_its_family__name_folder(tmp_path):
    fields = {"model": "openclip/tiny-random", "modality": "image"}
    entry = EmbeddingCache(tmp_path).entry(fields, 10)
    assert entry.directory == tmp_path / "openclip__tiny-random" / cache_key(fields)[:32]
