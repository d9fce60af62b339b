"""The exercises' checkers: right answers pass; every wrong one (a plain net, a net without downsampling, a wrong option
A, a string where a number is asked...) prints one line, what is wrong and a hint, and raises nothing, in Python as in
a kernel. And the chapters' exercises name questions that exist, state the precision each asks for and the environment
it needs, and their examples of a wrong answer are wrong."""
import ast, json, os, re
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from resnet_study.exercises import (QUESTIONS, Question, check_answer, check_cifar_builder, check_option_a,
                                    check_warmup_rule, warmup_rates)
from resnet_study.models import BasicBlock, cifar_model
from resnet_study.reference import REFERENCE_NETS, weights_dir

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "nbs").glob("1[0-7]*.ipynb"))  # the chapters that may have exercises (18: their solutions)


def said(capsys, check, *args):
    "`check(*args)`: it raises nothing and prints exactly its one line, on stdout"
    v = check(*args)
    out = capsys.readouterr()
    assert out.err == "" and out.out == v.line + "\n" and "\n" not in v.line, out
    return v


def wrong(capsys, check, *args, contains=""):
    "`check(*args)` finds the answer wrong, in one line that says what and gives a hint"
    v = said(capsys, check, *args)
    assert v == "wrong" and not v and v.line.startswith("wrong: ") and "; hint: " in v.line, v.line
    assert contains in v.line, v.line
    return v.line


# option A
def ours(x, nf, stride):
    x = x[:, :, ::stride, ::stride]
    return F.pad(x, (0, 0, 0, 0, 0, nf - x.shape[1]))


def akamaster(x, nf, stride):
    "The re-implementation's option A, as it writes it (`planes` is the block's output channels)"
    planes = nf
    return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4), "constant", 0)


def interleaved(x, nf, stride):
    "The input's channels at the even places, in order, the zeros between them"
    sub = x[:, :, ::stride, ::stride]
    out = sub.new_zeros(sub.shape[0], nf, *sub.shape[2:])
    out[:, 0:2 * sub.shape[1]:2] = sub
    return out


@pytest.mark.parametrize("fn", [ours, akamaster, interleaved], ids=["ours", "akamaster", "interleaved"])
def test_every_correct_option_a_passes(capsys, fn):
    assert said(capsys, check_option_a, fn) == "correct"


@pytest.mark.parametrize("fn, says", [
    (lambda x, nf, s: F.pad(x, (0, 0, 0, 0, 0, nf - x.shape[1])), "subsample H and W"),
    (lambda x, nf, s: x[:, :, ::s, ::s], "pad the channels with zeros up to nf = 32"),
    (lambda x, nf, s: x[:, :, ::s, ::s].repeat(1, 2, 1, 1), "repeats input channel 0"),
    (lambda x, nf, s: F.pad(x[:, :, 1::s, 1::s], (0, 0, 0, 0, 0, nf - x.shape[1])), "even rows and columns"),
    (lambda x, nf, s: 0.5 * ours(x, nf, s), "neither an input channel, subsampled, nor zeros"),
    (lambda x, nf, s: ours(x.flip(1), nf, s), "reorders the input's channels"),
    (lambda x, nf, s: akamaster(x, nf, s).index_fill(1, torch.tensor([10]), 0.0), "loses input channel 2"),
    (lambda x, nf, s: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, nf // 4, nf // 4), "constant", 1.0), "neither an input"),
    (lambda x, nf, s: F.avg_pool2d(ours(x, nf, 1), 2, ceil_mode=True), "neither an input channel"),
    (lambda x, nf, s: ours(x, nf, s).tolist(), "returns a list"),
    (lambda x, nf, s: x + x.new_zeros(x.shape[0], nf, 1, 1), "raised RuntimeError"),
], ids=["no-subsampling", "no-padding", "copies", "odd-pixels", "scaled", "reordered", "one-lost", "ones", "pooled",
        "a-list", "raises"])
def test_a_wrong_option_a_says_what_differs(capsys, fn, says):
    wrong(capsys, check_option_a, fn, contains=says)


# the 6n+2 builder
def builder(depth, stride=lambda i, j, n: 2 if i > 0 and j == 0 else 1, pool=False, residual=True, option="A"):
    "The 6n+2 net as a student writes it; the arguments make it wrong in the ways students do"
    n = (depth - 2) // 6
    layers, ni = [nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()], 16
    for i, nf in enumerate((16, 32, 64)):
        if pool and i > 0: layers.append(nn.MaxPool2d(2))
        for j in range(n):
            layers.append(BasicBlock(ni, nf, stride(i, j, n), residual=residual, option=option)); ni = nf
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


@pytest.mark.parametrize("fn", [builder, cifar_model], ids=["sequential", "cifar_model"])
def test_a_right_builder_passes(capsys, fn):
    assert said(capsys, check_cifar_builder, fn) == "correct"


@pytest.mark.parametrize("fn, says", [
    (lambda d: cifar_model(d, residual=False), "stage 1, block 1 has no shortcut"),
    (lambda d: builder(d, residual=False), "without shortcuts it is the plain net"),
    (lambda d: builder(d, stride=lambda i, j, n: 1), "stage 2, block 1 has stride 1, so the map keeps its size"),
    (lambda d: builder(d, stride=lambda i, j, n: 2 if i < 2 and j == n - 1 else 1),
     "stage 1, block 3 has stride 2, but only the first block of stages 2 and 3 subsamples"),
    (lambda d: builder(d, stride=lambda i, j, n: 1, pool=True), "pools (MaxPool2d) before its last block"),
    (lambda d: builder(d, option="B"), "stage 2, block 1's shortcut is a projection with 576 parameters"),
    (lambda d: cifar_model(d, shortcut="C"), "stage 1, block 1's shortcut is a Sequential, not the identity"),
    (lambda d: nn.Sequential(*builder(d), nn.Softmax(1)), "computes other numbers (evaluation mode) after the last"),
    (lambda d: nn.Sequential(*builder(d)[:-1], nn.Dropout(0.5), builder(d)[-1]), "(training mode) after the last"),
    (lambda d: nn.Sequential(*builder(d)[:6], nn.Tanh(), *builder(d)[6:]), "between stage 1, block 3 and stage 2"),
    (lambda d: cifar_model(d + 6), "3 stages of n = 3 blocks (9 in all)"),
    (lambda d: "a net", "returns a str, not an nn.Module"),
], ids=["plain-net", "plain-sequential", "no-downsampling", "stride-in-last-block", "max-pooling", "option-B",
        "option-C", "softmax", "dropout", "tanh-between", "too-deep", "a-string"])
def test_a_wrong_builder_says_what_is_wrong(capsys, fn, says):
    wrong(capsys, check_cifar_builder, fn, contains=says)


def test_the_warmup_rule(capsys):
    assert said(capsys, check_warmup_rule, warmup_rates) == "correct"
    wrong(capsys, check_warmup_rule, lambda errors, lr=0.1, warm_lr=0.01, until=0.8: [lr] * len(errors),
          contains="window 0 should train at 0.01")


# questions
def test_an_answer_to_two_decimal_places_is_judged_by_its_rounding(capsys):
    "ResNet-1202 has 11.2394 times ResNet-110's parameters: to 2 decimal places, 11.24 is right, 11, 11.2 and 11.3 not"
    assert QUESTIONS["params_ratio_1202_110"].asked.endswith("to 2 decimal places?")
    for right in (11.24, 11.2394, 11.2449, torch.tensor(11.24)):
        assert said(capsys, check_answer, "params_ratio_1202_110", right) == "correct"
    for value, says in ((11, "11 rounds to 11.00, too low"), (11.2, "11.2 rounds to 11.20, too low"),
                        (11.3, "11.3 rounds to 11.30, too high"), (11.25, "11.25 is too high")):
        wrong(capsys, check_answer, "params_ratio_1202_110", value, contains=says)


@pytest.mark.parametrize("name, value, says", [
    ("params_ratio_1202_110", "a string", "It asks for a number, not 'a string'"),
    ("extra_params_b_resnet32", "2752", "It asks for a number, not '2752'"),
    ("extra_params_b_resnet32", None, "It asks for a number, not None"),
    ("extra_params_b_resnet32", [2752], "It asks for a number, not [2752]"),
    ("extra_params_b_resnet32", 0, "is too low"),
    ("no such question", 1, "there is no question 'no such question'"),
])
def test_a_wrong_answer_is_one_line(capsys, name, value, says):
    wrong(capsys, check_answer, name, value, contains=says)


def test_a_question_whose_answer_is_a_name(capsys, monkeypatch):
    question = Question("Which block?", lambda: "layer2.0", hint="the largest error")
    monkeypatch.setitem(QUESTIONS, "which_block", question)
    assert said(capsys, check_answer, "which_block", "layer2.0") == "correct"
    wrong(capsys, check_answer, "which_block", 20, contains="It asks for a name, not 20")
    wrong(capsys, check_answer, "which_block", "layer3.0", contains="Not 'layer3.0'; hint: the largest error")


HAVE = (all((weights_dir() / REFERENCE_NETS[d][0]).exists() for d in (20, 56))
        and bool(os.environ.get("RESNET_STUDY_DATA")))


@pytest.mark.parametrize("name", [n for n, q in QUESTIONS.items() if q.weights is None and not q.data])
def test_every_question_accepts_the_answer_the_library_computes(capsys, name):
    q = QUESTIONS[name]
    assert q.text.endswith("?") and q.hint
    value = q.answer()
    assert said(capsys, check_answer, name, round(value, q.decimals) if q.decimals is not None else value) == "correct"


@pytest.mark.skipif(not HAVE, reason="needs the published weights and $RESNET_STUDY_DATA")
def test_a_question_on_the_published_resnet20(capsys):
    assert said(capsys, check_answer, "lesion_cost_resnet20", QUESTIONS["lesion_cost_resnet20"].answer()) == "correct"
    wrong(capsys, check_answer, "lesion_cost_resnet20", 0, contains="0 rounds to 0.0, too low")


@pytest.mark.parametrize("variable, name", [("RESNET_STUDY_WEIGHTS", "lesion_cost_resnet20"),
                                            ("RESNET_STUDY_DATA", "costliest_block_resnet56")])
def test_a_question_without_its_weights_or_data_says_which_variable_to_set(capsys, monkeypatch, tmp_path, variable,
                                                                            name):
    monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)  # nor the weights' default folder, data/weights
    v = said(capsys, check_answer, name, 1)
    assert v == "not checked" and not v and f"set {variable}" in v.line and "; hint: " in v.line, v.line


def test_wrong_answers_in_a_kernel_show_one_line_and_no_traceback():
    "In a kernel, as JupyterLab shows it: each wrong answer is one line of output, no error, no traceback"
    import nbformat
    from nbclient import NotebookClient
    cells = ["from resnet_study.exercises import check_option_a, check_answer, check_cifar_builder\n"
             "from resnet_study.models import cifar_model",
             "def my_fn(x, nf, stride):\n    return x + x.new_zeros(x.shape[0], nf, 1, 1)  # a shape error\n"
             "check_option_a(my_fn)",
             "check_answer('params_ratio_1202_110', 'a string')",
             "check_answer('params_ratio_1202_110', 11)",
             "check_cifar_builder(lambda depth: cifar_model(depth, residual=False))",
             "check_answer('params_ratio_1202_110', 11.24)"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in cells])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()  # an error in a cell would stop it here
    lines = []
    for c in nb.cells[1:]:
        assert [o.output_type for o in c.outputs] == ["stream"] and c.outputs[0].name == "stdout", c.outputs
        assert c.outputs[0].text.count("\n") == 1, c.outputs[0].text
        lines.append(c.outputs[0].text.rstrip("\n"))
    assert all(line.startswith("wrong: ") and "; hint: " in line for line in lines[:-1]), lines
    assert lines[0].startswith("wrong: my_fn(x of shape (2, 16, 8, 8), nf=32, stride=2) raised RuntimeError"), lines[0]
    assert lines[0].split("; hint: ")[0].endswith("at `return x + x.new_zeros(x.shape[0], nf, 1, 1)  # a shape error`")
    assert lines[-1].startswith("correct: "), lines[-1]


# the chapters
def exercise_cells(nb: Path) -> list[dict]:
    "The cells of a chapter's Exercises section"
    cells = json.loads(nb.read_text())["cells"]
    start = next((i for i, c in enumerate(cells) if "".join(c["source"]).startswith("## Exercises")), len(cells))
    return cells[start:]


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.stem)
def test_a_chapters_exercises_ask_what_their_checks_check(nb):
    "Each question an exercise names exists, and the exercise states its precision and the environment it needs"
    md = "".join("".join(c["source"]) for c in exercise_cells(nb) if c["cell_type"] == "markdown")
    for item in re.split(r"\n(?=\d+\. )", md):
        item = " ".join(item.split())  # one line: a phrase may wrap
        for name in re.findall(r'check_answer\("(\w+)"', item):
            assert name in QUESTIONS, f"{nb.name}: no question {name}"
            q = QUESTIONS[name]
            if q.decimals is not None:
                assert f"to {q.decimals} decimal place" in item, f"{nb.name}: {name}'s precision is not stated"
            if q.weights is not None: assert "RESNET_STUDY_WEIGHTS" in item, f"{nb.name}: {name} needs the weights"
            if q.data: assert "RESNET_STUDY_DATA" in item, f"{nb.name}: {name} needs the data"


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.stem)
def test_a_chapters_example_of_a_wrong_answer_is_wrong(capsys, nb):
    code = "".join("".join(c["source"]) for c in exercise_cells(nb) if c["cell_type"] == "code")
    examples = re.findall(r'# check_answer\("(\w+)", ([^)]+)\) says what is wrong', code)
    assert examples or "import check_answer" not in code and ", check_answer" not in code, f"{nb.name}: no example"
    for name, value in examples:
        q = QUESTIONS[name]
        if q.weights is not None or q.data: continue
        wrong(capsys, check_answer, name, ast.literal_eval(value))


def test_every_question_is_asked_by_a_chapter_and_answered_in_the_solutions():
    asked = {n for nb in CHAPTERS for c in exercise_cells(nb)
             for n in re.findall(r'check_answer\("(\w+)"', "".join(c["source"]))}
    solutions = (ROOT / "nbs" / "18_solutions.ipynb").read_text()
    assert set(QUESTIONS) <= asked, set(QUESTIONS) - asked
    assert [n for n in QUESTIONS if f'check_answer(\\"{n}\\"' not in solutions] == []
