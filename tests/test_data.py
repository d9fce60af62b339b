"Bad-input and format tests for `resnet_study.sources` and `resnet_study.data`, all on small data generated into `tmp_path` (`resnet_study.testing`)."
import hashlib, io, os, pickle, tarfile
from pathlib import Path

import matplotlib
matplotlib.use('Agg')
import numpy as np
import pytest
import torch
from PIL import Image

import resnet_study.sources as S
from resnet_study.testing import CIFAR10_CLASSES as CLASSES, cifar_batches, synthetic_image_tree, write_cifar_archive, write_tgz
from resnet_study.testing import write_image as _write_image
from resnet_study.files import file_digest
from resnet_study.sources import CIFAR10_ARCHIVE, ImageData, DataError, DataNotFoundError, load_cifar10
from resnet_study.data import cifar10_dls
from resnet_study.imagenet_data import imagenet_dls
import resnet_study.imagenet_data as I



@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    "Every test gets its own cache folder and no RESNET_STUDY_DATA from the caller's shell"
    monkeypatch.setenv('RESNET_STUDY_CACHE', str(tmp_path / 'cache'))
    monkeypatch.delenv('RESNET_STUDY_DATA', raising=False)


# ---------------------------------------------------------------- helpers that write data

def write_official(dest, n=10, seed=0, prefix='cifar-10-batches-py/'):
    "A small archive in the genuine cifar-10-python.tar.gz format (`write_cifar_archive`), and its batches' contents"
    batches = cifar_batches(n, seed)
    return write_cifar_archive(dest, batches, prefix), batches


def expected(batches):
    x = np.concatenate([batches[f'data_batch_{i}'][b'data'] for i in range(1, 6)]).reshape(-1, 3, 32, 32)
    y = sum((batches[f'data_batch_{i}'][b'labels'] for i in range(1, 6)), [])
    return torch.from_numpy(x), torch.tensor(y)


def write_image(path, size=(32, 32), seed=0): return _write_image(path, size=size, seed=seed)


def make_folder(root, classes=('cat', 'dog', 'frog'), n=2, ext='.png', labels=True):
    "fastai layout: root/labels.txt, root/train/<class>/*, root/test/<class>/*; returns the train arrays per class"
    arrays = {}
    for split in ('train', 'test'):
        for ci, c in enumerate(classes):
            for k in range(n):
                a = write_image(root / split / c / f'{k:04d}{ext}', seed=hash((split, ci, k)) % 1000)
                if split == 'train': arrays.setdefault(c, []).append(a)
    if labels: (root / 'labels.txt').write_text('\n'.join(classes) + '\n')
    return arrays


make_tgz = write_tgz


def extract(arc, dest):
    with tarfile.open(arc) as tf: tf.extractall(dest, **({'filter': 'data'} if hasattr(tarfile, 'data_filter') else {}))


def snapshot(root):
    "Every file under `root` (except the cache) with its content hash: to check that nothing was modified"
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(Path(root).rglob('*')) if p.is_file() and 'cache' not in p.parts}


def cache_files(tmp_path):
    d = tmp_path / 'cache'
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


# ---------------------------------------------------------------- the official format

def test_official_archive_any_name_loads_without_md5(tmp_path):
    arc, batches = write_official(tmp_path / 'tiny-cifar.tar.gz')
    d = load_cifar10(arc)
    x, y = expected(batches)
    assert d.x_train.dtype == torch.uint8 and d.x_train.shape == (50, 3, 32, 32)
    assert torch.equal(d.x_train, x) and torch.equal(d.y_train, y) and d.y_train.dtype == torch.int64
    assert torch.equal(d.x_test, torch.from_numpy(batches['test_batch'][b'data'].reshape(-1, 3, 32, 32)))
    assert d.classes == CLASSES


def test_official_name_is_md5_checked(tmp_path):
    arc, _ = write_official(tmp_path / CIFAR10_ARCHIVE)
    before = snapshot(tmp_path)
    with pytest.raises(DataError, match='MD5') as e: load_cifar10(arc)
    assert str(arc) in str(e.value) and 'check_md5=False' in str(e.value)
    assert isinstance(e.value, ValueError)
    assert snapshot(tmp_path) == before and cache_files(tmp_path) == []
    assert load_cifar10(arc, check_md5=False).x_train.shape == (50, 3, 32, 32)
    other, _ = write_official(tmp_path / 'other.tgz')
    with pytest.raises(DataError, match='MD5'): load_cifar10(other, check_md5=True)


def test_official_extracted_folder_and_parent(tmp_path):
    arc, batches = write_official(tmp_path / 'a.tar.gz')
    extract(arc, tmp_path / 'data')
    x, _ = expected(batches)
    assert torch.equal(load_cifar10(tmp_path / 'data' / 'cifar-10-batches-py').x_train, x)
    assert torch.equal(load_cifar10(tmp_path / 'data').x_train, x)   # torchvision-style root holding the folder


def test_official_folder_with_missing_batch(tmp_path):
    arc, _ = write_official(tmp_path / 'a.tar.gz')
    extract(arc, tmp_path / 'data')
    (tmp_path / 'data' / 'cifar-10-batches-py' / 'data_batch_3').unlink()
    with pytest.raises(DataError, match='data_batch_3'): load_cifar10(tmp_path / 'data')


def test_pickle_with_foreign_objects_is_refused(tmp_path):
    d = tmp_path / 'cifar-10-batches-py'; d.mkdir()
    arc, _ = write_official(tmp_path / 'a.tar.gz')
    extract(arc, tmp_path / 'x')
    for f in (tmp_path / 'x' / 'cifar-10-batches-py').iterdir(): (d / f.name).write_bytes(f.read_bytes())
    (d / 'test_batch').write_bytes(pickle.dumps(os.getcwd))   # a pickle that would call a function
    with pytest.raises(DataError, match='test_batch'): load_cifar10(d)


# ---------------------------------------------------------------- the folder format

def test_png_folder_with_labels(tmp_path):
    arrays = make_folder(tmp_path / 'cifar10', classes=('frog', 'cat', 'dog'))   # labels.txt order wins
    d = load_cifar10(tmp_path / 'cifar10')
    assert d.classes == ['frog', 'cat', 'dog']
    assert d.x_train.shape == (6, 3, 32, 32) and d.x_test.shape == (6, 3, 32, 32)
    assert d.y_train.tolist() == [0, 0, 1, 1, 2, 2]
    assert torch.equal(d.x_train[2], torch.from_numpy(arrays['cat'][0]).permute(2, 0, 1))
    assert torch.equal(load_cifar10(tmp_path).x_train, d.x_train)   # a folder holding the layout one level down


def test_jpg_tgz_with_top_level_folder(tmp_path):
    make_folder(tmp_path / 'src' / 'cifar10-jpeg', ext='.jpg', labels=False)
    arc = make_tgz(tmp_path / 'src' / 'cifar10-jpeg', tmp_path / 'cifar10-jpeg.tgz')
    d = load_cifar10(arc)
    assert d.classes == ['cat', 'dog', 'frog'] and d.x_train.shape == (6, 3, 32, 32)
    assert torch.equal(d.x_train, load_cifar10(tmp_path / 'src' / 'cifar10-jpeg', cache=False).x_train)
    arc2 = make_tgz(tmp_path / 'src' / 'cifar10-jpeg', tmp_path / 'flat.tgz', arcname='')   # no top-level folder
    assert torch.equal(load_cifar10(arc2).x_train, d.x_train)


# ---------------------------------------------------------------- bad input

def test_missing_path(tmp_path):
    with pytest.raises(DataNotFoundError) as e: load_cifar10(tmp_path / 'nope')
    assert isinstance(e.value, FileNotFoundError)
    assert 'nope' in str(e.value) and 'RESNET_STUDY_DATA' in str(e.value) and '--data' in str(e.value)


def test_env_var_pointing_nowhere(tmp_path, monkeypatch):
    monkeypatch.setenv('RESNET_STUDY_DATA', str(tmp_path / 'gone'))
    with pytest.raises(DataNotFoundError, match='RESNET_STUDY_DATA'): load_cifar10()


def test_env_var_is_used(tmp_path, monkeypatch):
    arc, batches = write_official(tmp_path / 'small.tgz')
    monkeypatch.setenv('RESNET_STUDY_DATA', str(arc))
    assert torch.equal(load_cifar10().x_train, expected(batches)[0])


def test_no_network_message(tmp_path, monkeypatch):
    import fastai.data.external as ext
    monkeypatch.setenv('FASTAI_HOME', str(tmp_path / 'fastai'))
    monkeypatch.chdir(tmp_path)
    def offline(*a, **k): raise OSError('[Errno -3] Temporary failure in name resolution')
    monkeypatch.setattr(ext, 'untar_data', offline)
    with pytest.raises(DataNotFoundError) as e: load_cifar10()
    msg = str(e.value)
    assert 'network' in msg and 'RESNET_STUDY_DATA' in msg and '--data' in msg and 'name resolution' in msg
    with pytest.raises(DataNotFoundError): load_cifar10(download=False)


def test_not_an_archive(tmp_path):
    f = tmp_path / 'notes.txt'; f.write_text('hello')
    with pytest.raises(DataError, match='notes.txt'): load_cifar10(f)


def test_directory_without_images(tmp_path):
    (tmp_path / 'empty' / 'stuff').mkdir(parents=True)
    (tmp_path / 'empty' / 'readme.md').write_text('no images here')
    with pytest.raises(DataError, match='empty') as e: load_cifar10(tmp_path / 'empty')
    assert 'train/<class>' in str(e.value)


def test_train_folder_without_class_folders(tmp_path):
    (tmp_path / 'd' / 'train').mkdir(parents=True); (tmp_path / 'd' / 'test').mkdir()
    with pytest.raises(DataError, match='no train/<class>/'): load_cifar10(tmp_path / 'd')


def test_empty_class_folder(tmp_path):
    make_folder(tmp_path / 'd')
    (tmp_path / 'd' / 'train' / 'bird').mkdir(); (tmp_path / 'd' / 'test' / 'bird').mkdir()
    (tmp_path / 'd' / 'labels.txt').unlink()
    before = snapshot(tmp_path)
    with pytest.raises(DataError) as e: load_cifar10(tmp_path / 'd')
    assert str(tmp_path / 'd' / 'train' / 'bird') in str(e.value) and 'no images' in str(e.value)
    assert snapshot(tmp_path) == before and cache_files(tmp_path) == []


def test_empty_class_folder_in_archive(tmp_path):
    make_folder(tmp_path / 'src' / 'c', labels=False)
    (tmp_path / 'src' / 'c' / 'train' / 'bird').mkdir(); (tmp_path / 'src' / 'c' / 'test' / 'bird').mkdir()
    arc = make_tgz(tmp_path / 'src' / 'c', tmp_path / 'c.tgz')
    with pytest.raises(DataError, match='train/bird'): load_cifar10(arc)


def test_class_folders_differ_between_splits(tmp_path):
    make_folder(tmp_path / 'd', labels=False)
    write_image(tmp_path / 'd' / 'train' / 'bird' / '0.png')
    with pytest.raises(DataError, match='bird'): load_cifar10(tmp_path / 'd')


@pytest.mark.parametrize('ext', ['.png', '.jpg'])
def test_image_not_32x32(tmp_path, ext):
    make_folder(tmp_path / 'd', ext=ext)
    bad = tmp_path / 'd' / 'train' / 'dog' / '0001' ; bad = bad.with_suffix(ext)
    write_image(bad, size=(40, 30))
    with pytest.raises(DataError) as e: load_cifar10(tmp_path / 'd')
    assert str(bad) in str(e.value) and '40x30' in str(e.value) and '32x32' in str(e.value)
    assert cache_files(tmp_path) == []


@pytest.mark.parametrize('ext', ['.png', '.jpg'])
def test_image_not_decodable(tmp_path, ext):
    make_folder(tmp_path / 'd', ext=ext)
    bad = (tmp_path / 'd' / 'test' / 'frog' / '0000').with_suffix(ext)
    bad.write_bytes(b'this is not an image' * 10)
    before = snapshot(tmp_path)
    with pytest.raises(DataError) as e: load_cifar10(tmp_path / 'd')
    assert str(bad) in str(e.value) and 'decode' in str(e.value)
    assert snapshot(tmp_path) == before and cache_files(tmp_path) == []


def test_undecodable_image_in_archive_is_named(tmp_path):
    make_folder(tmp_path / 'src' / 'c', ext='.jpg')
    (tmp_path / 'src' / 'c' / 'train' / 'cat' / '0001.jpg').write_bytes(b'\xff\xd8 truncated jpeg')
    arc = make_tgz(tmp_path / 'src' / 'c', tmp_path / 'c.tgz')
    with pytest.raises(DataError, match='c/train/cat/0001.jpg'): load_cifar10(arc)


@pytest.mark.parametrize('kind', ['official', 'folder'])
def test_truncated_archive(tmp_path, kind):
    if kind == 'official': arc, _ = write_official(tmp_path / 'tiny.tar.gz', n=200)
    else:
        make_folder(tmp_path / 'src' / 'c', n=30)
        arc = make_tgz(tmp_path / 'src' / 'c', tmp_path / 'tiny.tar.gz')
    raw = arc.read_bytes()
    arc.write_bytes(raw[:len(raw) // 2])
    before = snapshot(tmp_path)
    with pytest.raises(DataError) as e: load_cifar10(arc)
    assert str(arc) in str(e.value) and 'truncated or corrupt' in str(e.value)
    assert snapshot(tmp_path) == before and cache_files(tmp_path) == []


def test_garbage_archive(tmp_path):
    arc = tmp_path / 'cifar.tgz'; arc.write_bytes(os.urandom(5000))
    with pytest.raises(DataError, match='cifar.tgz'): load_cifar10(arc)


def test_wrong_md5(tmp_path):
    arc, _ = write_official(tmp_path / CIFAR10_ARCHIVE)
    with pytest.raises(DataError) as e: load_cifar10(arc)
    assert S.CIFAR10_MD5 in str(e.value) and file_digest(arc, 'md5') in str(e.value)


def test_labels_txt_disagrees_with_folders(tmp_path):
    make_folder(tmp_path / 'd')
    (tmp_path / 'd' / 'labels.txt').write_text('cat\ndog\nhorse\n')
    before = snapshot(tmp_path)
    with pytest.raises(DataError) as e: load_cifar10(tmp_path / 'd')
    msg = str(e.value)
    assert 'labels.txt' in msg and 'horse' in msg and 'frog' in msg
    assert snapshot(tmp_path) == before and cache_files(tmp_path) == []


# ---------------------------------------------------------------- the cache

def test_cache_second_load_does_not_decode(tmp_path, monkeypatch):
    arc, batches = write_official(tmp_path / 'small.tgz')
    d1 = load_cifar10(arc)
    files = cache_files(tmp_path)
    assert len(files) == 1 and files[0].endswith('.pt')       # one file, no temp leftovers
    def no_decode(*a, **k): raise AssertionError('decoded again')
    monkeypatch.setattr(S, 'decode_source', no_decode)  # what `load_cifar10` calls
    d2 = load_cifar10(arc)
    assert torch.equal(d1.x_train, d2.x_train) and d1.classes == d2.classes
    # a changed source is decoded again and overwrites the stale cache
    write_official(arc, seed=1)
    monkeypatch.undo(); monkeypatch.setenv('RESNET_STUDY_CACHE', str(tmp_path / 'cache'))
    d3 = load_cifar10(arc)
    assert not torch.equal(d3.x_train, d1.x_train) and len(cache_files(tmp_path)) == 1


def test_cache_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    arc, _ = write_official(tmp_path / 'small.tgz')
    def boom(obj, f): f.write(b'partial'); raise KeyboardInterrupt
    monkeypatch.setattr(torch, 'save', boom)
    with pytest.raises(KeyboardInterrupt): load_cifar10(arc)
    assert cache_files(tmp_path) == []


def test_corrupt_cache_is_rebuilt(tmp_path):
    arc, batches = write_official(tmp_path / 'small.tgz')
    load_cifar10(arc)
    cp = tmp_path / 'cache' / cache_files(tmp_path)[0]
    cp.write_bytes(b'garbage')
    assert torch.equal(load_cifar10(arc).x_train, expected(batches)[0])


def test_cache_location(tmp_path, monkeypatch):
    monkeypatch.delenv('RESNET_STUDY_CACHE')
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
    (tmp_path / 'rw').mkdir(); (tmp_path / 'ro').mkdir()
    a, _ = write_official(tmp_path / 'rw' / 'a.tgz')
    b, _ = write_official(tmp_path / 'ro' / 'b.tgz')
    load_cifar10(a)
    assert len(list((tmp_path / 'rw' / '.resnet_study_cache').glob('*.pt'))) == 1   # next to writable data
    os.chmod(tmp_path / 'ro', 0o555)
    try:
        load_cifar10(b)
        assert sorted(p.name for p in (tmp_path / 'ro').iterdir()) == ['b.tgz']      # read-only: untouched
        assert len(list((tmp_path / 'xdg' / 'resnet_study').glob('*.pt'))) == 1
    finally: os.chmod(tmp_path / 'ro', 0o755)


# ---------------------------------------------------------------- DataLoaders

def tiny_data(n_train=200, n_test=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = lambda n: torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    return ImageData(x(n_train), torch.arange(n_train) % 10, x(n_test), torch.arange(n_test) % 10, CLASSES)


def test_dls_shapes_and_lengths():
    dls = cifar10_dls(tiny_data(), bs=32, device='cpu')
    assert len(dls.train) == 7 and dls.train.n == 200 and dls.valid.n == 40
    xb, yb = dls.one_batch()
    assert xb.shape == (32, 3, 32, 32) and xb.dtype == torch.float32 and yb.dtype == torch.int64
    assert sum(len(b[1]) for b in dls.train) == 200
    assert len(cifar10_dls(tiny_data(), bs=32, device='cpu', drop_last=True).train) == 6
    assert dls.train_ds.loss_func is not None and dls.c == 10 and dls.vocab == CLASSES


def test_dls_from_path(tmp_path):
    arc, _ = write_official(tmp_path / 'small.tgz')
    dls = cifar10_dls(arc, bs=16, device='cpu')
    assert dls.train.n == 50 and dls.valid.n == 10


def test_pixel_mean_and_unchanged_valid():
    d = tiny_data()
    dls = cifar10_dls(d, bs=40, device='cpu')
    mean = d.x_train.double().div(255).mean(0).float()
    assert torch.allclose(dls.train.mean, mean, atol=1e-6)
    xv = torch.cat([b[0] for b in dls.valid])
    assert torch.allclose(xv, d.x_test.float() / 255 - mean, atol=1e-6)
    assert torch.equal(dls.valid.decode(xv), d.x_test)
    ch = cifar10_dls(d, bs=40, device='cpu', normalize='channel')
    assert ch.train.mean.shape == (3, 1, 1) and ch.train.std.shape == (3, 1, 1)
    with pytest.raises(ValueError): cifar10_dls(d, normalize='bogus')


def test_augmentation_is_crop_and_flip():
    d = tiny_data()
    dls = cifar10_dls(d, bs=200, device='cpu', normalize=None)
    order, dy, dx, flip = dls.train.epoch_plan(0)
    xb, yb = next(iter(dls.train))
    assert torch.equal(yb, d.y_train[order])
    for i in range(20):
        img = d.x_train[order[i]].float() / 255
        padded = torch.nn.functional.pad(img, (4, 4, 4, 4))
        want = padded[:, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32]
        if flip[i]: want = want.flip(2)
        assert torch.equal(xb[i], want)
    assert 0.3 < flip.float().mean() < 0.7 and set(dy.tolist()) <= set(range(9))


def test_reproducible_and_resumable():
    d = tiny_data()
    a, b = cifar10_dls(d, bs=50, device='cpu', seed=1), cifar10_dls(d, bs=50, device='cpu', seed=1)
    e0 = [x for x, _ in a.train]; e1 = [x for x, _ in a.train]
    assert a.train.epoch == 2
    assert all(torch.equal(p, q) for p, q in zip(e0, [x for x, _ in b.train]))
    assert not torch.equal(e0[0], e1[0])
    assert torch.equal(next(iter(b.train.set_epoch(1, batch=2)))[0], e1[2])
    assert not torch.equal(next(iter(cifar10_dls(d, bs=50, device='cpu', seed=2).train))[0], e0[0])
    one = a.train.one_batch()[0]
    assert a.train.epoch == 2 and torch.equal(one, next(iter(a.train))[0])   # one_batch doesn't advance


def test_val_split_and_subset():
    d = tiny_data(n_train=1000)
    dls = cifar10_dls(d, bs=50, device='cpu', val_split=100)
    assert (dls.train.n, dls.valid.n, dls[2].n) == (900, 100, 40)
    assert torch.bincount(dls.valid.y).tolist() == [10] * 10
    again = cifar10_dls(d, bs=50, device='cpu', val_split=100, seed=5)
    assert torch.equal(dls.valid.x, again.valid.x)              # same hold-out whatever the training seed
    train_rows = {r.tobytes() for r in dls.train.x.flatten(1).numpy()}
    assert not any(r.tobytes() in train_rows for r in dls.valid.x.flatten(1).numpy())
    sub = cifar10_dls(d, bs=50, device='cpu', subset=250)
    assert sub.train.n == 250 and torch.bincount(sub.train.y).tolist() == [25] * 10
    with pytest.raises(ValueError): cifar10_dls(d, subset=0)
    with pytest.raises(ValueError): cifar10_dls(d, subset=5000)


def test_show_batch_is_denormalised():
    d = tiny_data()
    dls = cifar10_dls(d, bs=16, device='cpu', augment=False)
    items = dls.show_batch(show=False, max_n=4)
    order = dls.train.epoch_plan(dls.train.epoch)[0]
    assert torch.equal(items[0][0], d.x_train[order[0]]) and items[0][1] == CLASSES[int(d.y_train[order[0]])]
    axs = dls.show_batch(max_n=4)
    assert len(list(axs)) >= 4


def test_learner_trains():
    from fastai.learner import Learner
    from fastai.metrics import accuracy
    from torch import nn
    dls = cifar10_dls(tiny_data(), bs=50, device='cpu')
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    learn = Learner(dls, model, metrics=accuracy)
    with learn.no_logging(): learn.fit(2, 1e-2)
    assert dls.train.epoch == 2 and np.isfinite(learn.recorder.values[-1][0])
    preds, targs = learn.get_preds()
    assert preds.shape == (40, 10) and torch.equal(targs, dls.valid.y)


# ---------------------------------------------------------------- ImageNet-style folders

def make_tree(root, classes=('cat', 'dog'), n=3, seed=0):
    return synthetic_image_tree(root, n_train=n, n_val=n, seed=seed, classes=classes)


def test_imagenet_dls(tmp_path):
    root = make_tree(tmp_path / 'imnet')
    dls = imagenet_dls(root, bs=4, device='cpu', num_workers=0, size=64, scale=(72, 96), resize=72)
    x, y = dls.one_batch()
    assert x.shape == (4, 3, 64, 64) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert len(dls.train) == 2 and dls.train.n == 6 and dls.vocab == ['cat', 'dog']
    xv, _ = dls.valid.one_batch()
    assert xv.shape == (4, 3, 64, 64)
    ten = imagenet_dls(root, bs=4, device='cpu', num_workers=0, size=64, resize=72, valid_crop='ten')
    xt, yt = ten.valid.one_batch()
    assert xt.shape == (4, 10, 3, 64, 64)
    from torch import nn
    m = I.CropAverage(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2)))
    out = m(xt)
    assert out.shape == (4, 2) and torch.allclose(out.exp().sum(1), torch.ones(4), atol=1e-5)
    assert len(dls.show_batch(show=False, max_n=2)) == 2


def test_lighting_matches_alexnet():
    x = torch.rand(3, 3, 5, 5)
    out = I.lighting(x, 0.1, generator=torch.Generator().manual_seed(0))
    alpha = torch.randn(3, 3, generator=torch.Generator().manual_seed(0)) * 0.1
    ev, evec = torch.tensor(I.IMAGENET_EIGVAL), torch.tensor(I.IMAGENET_EIGVEC)
    want = torch.stack([evec @ (a * ev) for a in alpha])
    assert torch.allclose(out - x, want[:, :, None, None].expand_as(x), atol=1e-6)


def test_imagenet_bad_input(tmp_path):
    with pytest.raises(DataNotFoundError): imagenet_dls(tmp_path / 'nope')
    root = make_tree(tmp_path / 'imnet')
    (root / 'val' / 'cat').rename(root / 'val' / 'bird')
    with pytest.raises(DataError, match='bird'): imagenet_dls(root, device='cpu')
    (root / 'val' / 'bird').rename(root / 'val' / 'cat')
    (root / 'train' / 'eel').mkdir()
    with pytest.raises(DataError, match='eel'): imagenet_dls(root, device='cpu')
    (root / 'train' / 'eel').rmdir()
    with pytest.raises(DataNotFoundError, match='val'): imagenet_dls(root, device='cpu', valid='validation')
