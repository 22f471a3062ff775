"""Published models: resumable, checksummed, atomic downloads from a local HTTP server; the offline error; the
original MadryLab / torchvision files converted once and loaded with the original's logits."""

from __future__ import annotations

import argparse
import hashlib
import http.server
import re
import threading
from dataclasses import replace

import pytest
import torch

import rrhelpers as rr
from rrhelpers.networks import published
from rrhelpers.networks.downloads import ChecksumError, DownloadError, download

from .test_convert import CIFAR_MEAN, CIFAR_STD, MadryCifarResNet, _madrylab_state, _randomise_batchnorm


class _Server(http.server.ThreadingHTTPServer):
    """Serves ``files`` (name -> bytes), honouring ``Range: bytes=N-`` unless ``ranges`` is False."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.ranges = True
        self.requests: list[tuple[str, str | None]] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{name}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        server: _Server = self.server  # type: ignore[assignment]
        name = self.path.lstrip("/").split("?")[0]
        server.requests.append((name, self.headers.get("Range")))
        if name not in server.files:
            self.send_error(404)
            return
        body, start = server.files[name], 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and server.ranges:
            start = int(match[1])
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


def test_download_verifies_and_resumes(server, tmp_path):
    server.files["w.pt"] = PAYLOAD
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    target = tmp_path / "w.pt"
    (tmp_path / "w.pt.part").write_bytes(PAYLOAD[:1000])  # an interrupted earlier download
    assert download(server.url("w.pt"), target, digest, progress=False) == target
    assert target.read_bytes() == PAYLOAD and not (tmp_path / "w.pt.part").exists()
    assert server.requests == [("w.pt", "bytes=1000-")]  # only the rest was fetched
    download(server.url("w.pt"), target, digest, progress=False)  # present: no second request
    assert len(server.requests) == 1


def test_download_restarts_when_the_server_ignores_ranges(server, tmp_path):
    server.files["w.pt"], server.ranges = PAYLOAD, False
    (tmp_path / "w.pt.part").write_bytes(b"stale bytes")
    download(server.url("w.pt"), tmp_path / "w.pt", hashlib.sha256(PAYLOAD).hexdigest()[:8], progress=False)
    assert (tmp_path / "w.pt").read_bytes() == PAYLOAD


def test_complete_partial_file_is_accepted(server, tmp_path):
    server.files["w.pt"] = PAYLOAD
    (tmp_path / "w.pt.part").write_bytes(PAYLOAD)  # the download finished, the rename did not happen
    download(server.url("w.pt"), tmp_path / "w.pt", hashlib.sha256(PAYLOAD).hexdigest(), progress=False)
    assert (tmp_path / "w.pt").read_bytes() == PAYLOAD


def test_wrong_checksum_leaves_nothing_behind(server, tmp_path):
    server.files["w.pt"] = PAYLOAD
    with pytest.raises(ChecksumError, match="expected 00000000"):
        download(server.url("w.pt"), tmp_path / "w.pt", "0" * 64, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_offline_error_says_where_to_put_the_file(tmp_path):
    with pytest.raises(DownloadError, match=re.escape(str(tmp_path / "w.pt"))):
        download("http://127.0.0.1:9/w.pt", tmp_path / "w.pt", progress=False, timeout=2)


def test_missing_file_on_server(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(server.url("nothing.pt"), tmp_path / "w.pt", progress=False)


def test_every_entry_is_complete():
    for name, entry in published.PUBLISHED.items():
        assert entry.url.startswith("http") and entry.filename.endswith((".pt", ".pth")), name
        assert entry.dataset in rr.data.DATASETS and entry.threat in ("l2", "linf", "none"), name
        assert all(0 <= acc <= 100 for acc in entry.reported.values()), name
    # the numbers the book compares against (SPEC section 3)
    assert published.PUBLISHED["madry-cifar10-l2-0.5"].reported["0.5"] == 70.17
    assert published.PUBLISHED["madry-imagenet-l2-3"].reported == {"0": 57.9, "0.5": 54.42, "1": 50.67, "2": 43.04,
                                                                   "3": 35.16}
    assert published.PUBLISHED["torchvision-resnet50"].sha256 == "0676ba61"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RRHELPERS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_madrylab_file_is_fetched_converted_once_and_cached(server, cache, monkeypatch):
    dill = pytest.importorskip("dill")
    torch.manual_seed(0)
    classifier = _randomise_batchnorm(MadryCifarResNet((1, 1, 1, 1), wm=0.25))
    checkpoint = {"model": _madrylab_state(classifier, CIFAR_MEAN, CIFAR_STD), "epoch": 150,
                  "args": argparse.Namespace(arch="resnet50", eps=0.5)}
    path = cache.parent / "cifar_l2_0_5.pt"
    torch.save(checkpoint, path, pickle_module=dill)
    server.files["cifar_l2_0_5.pt"] = path.read_bytes()
    entry = replace(published.PUBLISHED["madry-cifar10-l2-0.5"], url=server.url("cifar_l2_0_5.pt") + "?dl=1",
                    arch="resnet")
    monkeypatch.setitem(published.PUBLISHED, "madry-cifar10-l2-0.5", entry)

    model = rr.load_model("madry-cifar10-l2-0.5", progress=False)
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        mean, std = torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1), torch.tensor(CIFAR_STD).view(1, 3, 1, 1)
        expected = classifier((x - mean) / std)
        torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-6)
    assert model.classes[0] == "airplane" and not model.training
    meta = model.metadata
    assert meta["published"]["reported_accuracy"]["0.5"] == 70.17
    assert meta["original_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert published.converted_path("madry-cifar10-l2-0.5").exists()
    published.original_path("madry-cifar10-l2-0.5").unlink()  # the converted file is enough from now on
    again = rr.load_model("madry-cifar10-l2-0.5", download=False)
    assert torch.equal(again.head.weight, model.head.weight) and len(server.requests) == 1


def test_wrong_architecture_in_the_file_is_refused(server, cache, monkeypatch):
    torch.manual_seed(0)
    classifier = MadryCifarResNet((1, 1, 1, 1), wm=0.25)
    path = cache.parent / "x.pt"
    torch.save({"model": _madrylab_state(classifier, CIFAR_MEAN, CIFAR_STD)}, path)
    with pytest.raises(ValueError, match="is a resnet50_cifar"):
        published.convert_original("madry-cifar10-l2-0.5", path)


def test_offline_published_model_names_path_and_training_command(cache):
    with pytest.raises(FileNotFoundError) as err:
        rr.load_model("madry-reps-restricted-imagenet-robust", download=False)
    message = str(err.value)
    assert str(cache / "published" / "RestrictedImageNet.pt") in message
    assert "python -m rrhelpers train --preset restricted-imagenet-l2-3.5" in message
    assert not (cache / "published" / "madry-reps-restricted-imagenet-robust.safetensors").exists()


def test_torchvision_weights_from_torch_hub_cache(cache, monkeypatch, tmp_path):
    """A torchvision file already in torch hub's cache is used as it is (here a small stand-in under the name and
    checksum prefix that the entry expects)."""
    from torchvision.models import resnet18

    torch.manual_seed(0)
    network = resnet18().eval()
    blob_path = tmp_path / "blob.pth"
    torch.save(network.state_dict(), blob_path)
    digest = hashlib.sha256(blob_path.read_bytes()).hexdigest()
    hub = tmp_path / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    blob_path.rename(hub / "checkpoints" / f"resnet18-{digest[:8]}.pth")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    entry = replace(published.PUBLISHED["torchvision-vgg19"], arch="torchvision:resnet18", sha256=digest[:8],
                    url=f"https://example.invalid/resnet18-{digest[:8]}.pth")
    monkeypatch.setitem(published.PUBLISHED, "torchvision-vgg19", entry)
    model = rr.load_model("torchvision-vgg19", download=False)
    x = torch.rand(2, 3, 64, 64)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        assert model(x).std(dim=0).mean() > 1e-2
        torch.testing.assert_close(model(x), network((x - mean) / std))
    assert model.classes[0] == "tench" and model.metadata["original_sha256"] == digest


def test_torchvision_entries_name_torchvisions_own_addresses():
    """The addresses are written in the registry (importing torchvision to ask would slow every import of the
    package); they must be the ones torchvision's weight enums give."""
    from torchvision.models import get_weight

    entries = [entry for entry in published.PUBLISHED.values() if entry.torchvision_weights]
    assert len(entries) == 3
    for entry in entries:
        assert entry.url == get_weight(entry.torchvision_weights).url


def test_importing_the_package_does_not_import_torchvision():
    import subprocess
    import sys

    code = ("import sys, rrhelpers, rrhelpers.book.report; "
            "print('torchvision' in sys.modules, 'scipy.stats' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
