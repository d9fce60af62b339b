__version__ = "0.0.1"

import warnings as _warnings
# fastai's layers module compiles two activations with `torch.jit.script` when it is imported, which torch
# deprecates: a warning about fastai's code, not ours, that would otherwise open every notebook and command
_warnings.filterwarnings("ignore", message=r"`torch.jit.script` is deprecated", category=FutureWarning)
