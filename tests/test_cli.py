"End-to-end tests of the `resnet-study` command line, run as a user runs it."
import shutil, subprocess, sys
import pytest

def run_cli(*args, **kw):
    exe = shutil.which("resnet-study")
    cmd = [exe] if exe else [sys.executable, "-c", "import sys; from resnet_study.cli import main; sys.exit(main())"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, **kw)

def test_models_table():
    r = run_cli("models", "resnet20", "resnet1202", "resnet50")
    assert r.returncode == 0, r.stderr
    assert "resnet1202" in r.stdout and "19.421" in r.stdout and "3.858" in r.stdout

@pytest.mark.parametrize("arch", ["resnet21", "vgg19"])
def test_unknown_architecture_is_a_usage_error(arch):
    r = run_cli("models", arch)
    assert r.returncode == 2
    assert f"unknown architecture '{arch}'" in r.stderr and "resnet20" in r.stderr

def test_help():
    r = run_cli("--help")
    assert r.returncode == 0 and "models" in r.stdout
