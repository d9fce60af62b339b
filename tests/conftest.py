"Fixtures shared by the end-to-end tests."
import pytest

@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    "A fastai-layout folder like the shared cifar10-jpeg: train/<class>/*.jpg, test/<class>/*.jpg"
    from resnet_study.testing import synthetic_cifar, write_image_folder
    root = tmp_path_factory.mktemp("data") / "cifar10-tiny"
    return write_image_folder(root, synthetic_cifar(160, 40, balanced=True), ext=".jpg")  # 16 and 4 images a class
