"Fixtures shared by the end-to-end tests."
import pytest

@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    "A fastai-layout folder like the shared cifar10-jpeg: train/<class>/*.jpg, test/<class>/*.jpg"
    import torch
    from torchvision.io import write_jpeg
    root = tmp_path_factory.mktemp("data") / "cifar10-tiny"
    g = torch.Generator().manual_seed(0)
    for split, n in (("train", 16), ("test", 4)):
        for c in range(10):
            d = root / split / f"class{c}"; d.mkdir(parents=True)
            for i in range(n):
                base = torch.tensor([(c * 37) % 200, (c * 59) % 200, (c * 83) % 200])[:, None, None]
                img = (base + torch.randint(0, 56, (3, 32, 32), generator=g)).to(torch.uint8)
                write_jpeg(img, str(d / f"{i:04d}.jpg"))
    return root
