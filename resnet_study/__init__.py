"""An interactive, notebook-driven study of Deep Residual Learning for Image Recognition (He et al., 2016)

Modules:

- `resnet_study.exercises`: Functions a student calls on an answer: `check_option_a(my_fn)`,
  `check_cifar_builder(my_fn)`, `check_warmup_rule(my_fn)` and `check_answer(question, value)`. Each says what is wrong,
  in one line; the questions' answers are computed from the library, never typed.
- `resnet_study.knobs`: Turn a knob, see the claim: the signals of a fresh net as depth, shortcuts and BN change, and
  Figure 6 and Table 6 redrawn from the committed runs for the nets and seeds you pick. Every knob is a plain function
  first (the tests and the docs call it); the widget is a thin wrapper around it.
- `resnet_study.lesions`: Remove blocks from a trained ResNet and watch its test error (Veit et al. 2016); build a
  deeper net that is exactly as good as a shallower one by adding identity layers (section 1 of the paper), and see that
  a ResNet whose last BN scales start at zero starts as such a net.
- `resnet_study.pictures`: Figure 2 (the plain block beside the residual block), the bottleneck block and the CIFAR-10
  6n+2 layout with where each shortcut option pads or projects: drawn with matplotlib from the model objects themselves,
  so a changed model changes its picture."""

__version__ = "0.0.1"

import warnings as _warnings
# fastai's layers module compiles two activations with `torch.jit.script` when it is imported, which torch
# deprecates: a warning about fastai's code, not ours, that would otherwise open every notebook and command
_warnings.filterwarnings("ignore", message=r"`torch.jit.script` is deprecated", category=FutureWarning)
