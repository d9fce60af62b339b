"""`resnet_study.reference`: the re-implementation's published CIFAR-10 ResNets mapped into our option-A nets.

The mapping tests build a randomly initialised net of the re-implementation's architecture (below, from
github.com/akamaster/pytorch_resnet_cifar10's resnet.py), save its state dict as their checkpoints hold it and
compare outputs with our mapped net: they always run. The tests of the published files skip where the weights
are absent (set RESNET_STUDY_WEIGHTS to a folder holding them)."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from resnet_study.sources import ImageData
from resnet_study.data import CifarLoader
from resnet_study.models import cifar_model
from resnet_study.reference import (REFERENCE_DEPTHS, REFERENCE_NETS, ReferenceNet, WeightsError, WeightsNotFoundError,
                                    load_reference, map_reference_state_dict, measure_references, read_reference,
                                    read_references, reference_file, stage_permutations, weights_dir)

torch.set_num_threads(1)


# ---------------------------------------------------------------- the re-implementation's architecture

class RefBlock(nn.Module):
    "Their basic block: option A pads planes//4 zero channels before and after the kept ones."
    def __init__(self, ni, nf, stride=1):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(ni, nf, 3, stride, 1, bias=False), nn.BatchNorm2d(nf)
        self.conv2, self.bn2 = nn.Conv2d(nf, nf, 3, 1, 1, bias=False), nn.BatchNorm2d(nf)
        self.pad = nf // 4 if stride != 1 or ni != nf else None

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.pad is None else F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))))


class RefResNet(nn.Module):
    "Their CIFAR ResNet: stem, three stages of (depth-2)/6 blocks, global average pool, `linear`."
    def __init__(self, depth, num_classes=10):
        super().__init__()
        n, ni = (depth - 2) // 6, 16
        self.conv1, self.bn1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16)
        for i, nf in enumerate((16, 32, 64)):
            setattr(self, f"layer{i+1}", nn.Sequential(*[RefBlock(ni if j == 0 else nf, nf, 2 if i and not j else 1) for j in range(n)]))
            ni = nf
        self.linear = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(F.relu(self.bn1(self.conv1(x))))))
        return self.linear(F.avg_pool2d(x, x.size(3)).flatten(1))


def random_reference(depth, seed=0):
    "A randomly initialised reference net with random BN parameters and statistics, in eval mode."
    torch.manual_seed(seed)
    m = RefResNet(depth)
    g = torch.Generator().manual_seed(seed)
    for bn in (x for x in m.modules() if isinstance(x, nn.BatchNorm2d)):
        c = bn.num_features
        bn.weight.data = torch.rand(c, generator=g) + 0.5; bn.bias.data = torch.randn(c, generator=g) * 0.2
        bn.running_mean = torch.randn(c, generator=g) * 0.2; bn.running_var = torch.rand(c, generator=g) + 0.5
    return m.eval()


def their_state_dict(ref, batches_tracked=False):
    "As their checkpoints hold it: DataParallel's `module.` prefix, and (old PyTorch) no num_batches_tracked."
    return {f"module.{k}": v for k, v in ref.state_dict().items() if batches_tracked or not k.endswith("num_batches_tracked")}


def write_checkpoint(folder, depth, ref):
    folder.mkdir(exist_ok=True)
    f = folder / REFERENCE_NETS[depth][0]
    torch.save({"state_dict": their_state_dict(ref), "best_prec1": 0.0}, f)
    return f


# ---------------------------------------------------------------- the mapping (always runs)

def test_permutations():
    p1, p2, p3 = stage_permutations((16, 32, 64))
    assert p1.tolist() == list(range(16))
    assert p2.tolist() == list(range(8, 24)) + list(range(8)) + list(range(24, 32))
    assert p3.tolist() == list(range(24, 40)) + list(range(16, 24)) + list(range(40, 48)) + list(range(16)) + list(range(48, 64))
    with pytest.raises(ValueError, match="nf = 2 ni"): stage_permutations((16, 48))


@pytest.mark.parametrize("depth", [8, 20, 56])
@pytest.mark.parametrize("batches_tracked", [False, True])
def test_mapping_computes_the_same_function(depth, batches_tracked):
    ref = random_reference(depth, seed=depth)
    ours = cifar_model(depth).eval()
    ours.load_state_dict(map_reference_state_dict(their_state_dict(ref, batches_tracked), depth))
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad(): a, b = ref(x), ours(x)
    assert (a - b).abs().max().item() < 1e-4 * max(1.0, a.abs().max().item())
    # and a pure rename does not: the permutation is needed
    renamed = cifar_model(depth).eval()
    renamed.load_state_dict({k.replace("linear", "fc"): v for k, v in ref.state_dict().items()})
    with torch.no_grad(): assert (a - renamed(x)).abs().max().item() > 1e-2


def test_mapping_exact_in_float64():
    ref = random_reference(20, seed=1).double()
    ours = cifar_model(20).double().eval()
    ours.load_state_dict(map_reference_state_dict(their_state_dict(ref), 20))
    x = torch.randn(4, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad(): assert (ref(x) - ours(x)).abs().max().item() < 1e-10


def test_mapping_refuses_what_does_not_fit():
    sd = their_state_dict(RefResNet(20))
    with pytest.raises(WeightsError, match="holds a ResNet-20"): map_reference_state_dict(sd, 32)
    with pytest.raises(WeightsError, match="missing"):
        map_reference_state_dict({k: v for k, v in sd.items() if "layer3.2.bn2" not in k})
    with pytest.raises(WeightsError, match="unknown"): map_reference_state_dict({**sd, "module.extra.weight": torch.zeros(1)})
    with pytest.raises(WeightsError, match="shape"):
        map_reference_state_dict({**sd, "module.linear.weight": torch.zeros(100, 64)})
    with pytest.raises(WeightsError, match="not a CIFAR ResNet"): map_reference_state_dict({"conv.weight": torch.zeros(1)})


# ---------------------------------------------------------------- finding and reading files (always runs)

def test_unknown_depth():
    with pytest.raises(ValueError, match="ResNet-20, 32, 44, 56"): reference_file(110)
    with pytest.raises(ValueError, match="no published weights"): load_reference(18)


def test_missing_files_say_where_to_get_them(tmp_path, monkeypatch):
    for call in (lambda: reference_file(20, tmp_path), lambda: reference_file(20, tmp_path / "nowhere")):
        with pytest.raises(WeightsNotFoundError) as e: call()
        for s in ("github.com/akamaster/pytorch_resnet_cifar10", "pretrained_models", "BSD", "RESNET_STUDY_WEIGHTS"):
            assert s in str(e.value)
    monkeypatch.setenv("RESNET_STUDY_WEIGHTS", str(tmp_path / "elsewhere"))
    assert weights_dir() == tmp_path / "elsewhere"
    with pytest.raises(WeightsNotFoundError, match="RESNET_STUDY_WEIGHTS"): load_reference(20)


def test_damaged_and_wrong_files(tmp_path):
    f = tmp_path / REFERENCE_NETS[20][0]
    f.write_bytes(b"\x00" * 100)
    with pytest.raises(WeightsError, match="damaged"): read_reference(20, tmp_path)
    with pytest.raises(WeightsError, match="not a readable PyTorch checkpoint"): read_reference(20, tmp_path, check_hash=False)
    torch.save({"state_dict": "nothing"}, f)
    with pytest.raises(WeightsError, match="expected"): read_reference(20, tmp_path, check_hash=False)
    write_checkpoint(tmp_path, 20, RefResNet(32))  # a ResNet-32 under ResNet-20's name
    with pytest.raises(WeightsError, match="sha256"): load_reference(20, tmp_path)
    with pytest.raises(WeightsError, match="holds a ResNet-32"): load_reference(20, tmp_path, check_hash=False)


def test_load_and_normalise(tmp_path):
    ref = random_reference(20, seed=3)
    f = write_checkpoint(tmp_path, 20, ref)
    for w in (tmp_path, f):  # a folder or the file itself
        m = load_reference(20, w, check_hash=False)
        assert isinstance(m, ReferenceNet) and not m.training
        imgs = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1); std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        with torch.no_grad():
            a = ref((imgs.float() / 255 - mean) / std)
            assert (a - m(imgs)).abs().max().item() < 1e-4
            assert (a - m(imgs.float() / 255)).abs().max().item() < 1e-4
            # a batch of our loaders (per-pixel mean subtracted) goes back to the images with `decode`
            dl = CifarLoader(imgs, torch.zeros(6, dtype=torch.long), bs=6)
            xb, _ = next(iter(dl))
            assert (a - m(dl.decode(xb))).abs().max().item() < 1e-4
            with pytest.raises(ValueError, match="decode"): m(xb)


def test_measure_and_read_back(tmp_path):
    write_checkpoint(tmp_path / "w", 20, random_reference(20))
    g = torch.Generator().manual_seed(0)
    data = ImageData(torch.zeros(1, 3, 32, 32, dtype=torch.uint8), torch.zeros(1, dtype=torch.long),
                       torch.randint(0, 256, (30, 3, 32, 32), dtype=torch.uint8, generator=g),
                       torch.randint(0, 10, (30,), generator=g), list("abcdefghij"), "/somewhere/cifar.tgz")
    with pytest.raises(FileNotFoundError, match="measure_references"): read_references(tmp_path / "out")
    errors, responses = measure_references(data, tmp_path / "out", depths=(20,), weights=tmp_path / "w", bs=7, check_hash=False)
    e, r = read_references(tmp_path / "out")
    assert e.to_dict("records") == [dict(net="resnet20", depth=20, test_error=pytest.approx(errors.test_error[0], abs=1e-4),
                                         published_error=8.27, n_test=30, data="cifar.tgz")]
    assert list(r.columns) == ["net", "layer", "name", "response_std"] and len(r) == 19 and r.layer.tolist() == list(range(1, 20))
    # the error is the wrapped net's on the uint8 images
    m = load_reference(20, tmp_path / "w", check_hash=False)
    with torch.no_grad(): err = (m(data.x_test).argmax(1) != data.y_test).float().mean().item() * 100
    assert e.test_error[0] == pytest.approx(err, abs=1e-3)


# ---------------------------------------------------------------- the published files (skip without them)

def _have_weights():
    try: return all(reference_file(d) for d in REFERENCE_DEPTHS)
    except WeightsNotFoundError: return False


@pytest.mark.skipif(not _have_weights(), reason="published weights not found (RESNET_STUDY_WEIGHTS or ../shared/weights)")
@pytest.mark.parametrize("depth", REFERENCE_DEPTHS)
def test_published_nets_map_exactly(depth):
    sd = read_reference(depth)
    ref = RefResNet(depth).eval()
    res = ref.load_state_dict({k[len("module."):]: v for k, v in sd.items()}, strict=False)
    assert not res.unexpected_keys and all(k.endswith("num_batches_tracked") for k in res.missing_keys)
    m = load_reference(depth)
    torch.manual_seed(0)
    imgs = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad(): a, b = ref(m.normalize(imgs)), m(imgs)
    assert (a - b).abs().max().item() < 1e-4
    assert sum(p.numel() for p in m.parameters()) == sum(p.numel() for p in ref.parameters())
