"""An interactive, notebook-driven study of Deep Residual Learning for Image Recognition (He et al., 2016)

Modules:

- `resnet_study.analysis`: Run folders gathered into Table 6, the cost of each net, and Figure 6's curves
- `resnet_study.callbacks`: The fastai callbacks that write a run folder as it trains
- `resnet_study.cli`: `resnet-study`: the study's jobs from a shell
- `resnet_study.data`: CIFAR-10 as the paper feeds it: per-pixel mean, pad-crop-flip on whole batches
- `resnet_study.datasets`: The data sets as one table: size, classes, recipe and loader of each
- `resnet_study.distributed`: The device that trains, and what one of several processes needs
- `resnet_study.exercises`: The checkers of the exercises: one line on what is wrong, never a traceback
- `resnet_study.files`: Files written whole or not at all, and their fingerprints
- `resnet_study.imagenet_data`: Section 3.4's ImageNet input: scale augmentation, PCA lighting, 10-crop testing
- `resnet_study.judges`: The rules that turn run files into a verdict on a claim of the paper
- `resnet_study.knobs`: Turn a knob, see the claim: signals, Figure 6 and Table 6 as you move them
- `resnet_study.lesions`: Lesions of trained ResNets, and a deeper net exactly as good as a shallower one
- `resnet_study.models`: Plain and residual nets: blocks, shortcut options A/B/C, CIFAR-10 6n+2, ImageNet 18-152
- `resnet_study.pictures`: Figures 2, 3 and 5, the pre-activation block and the 6n+2 layout, drawn from the models
- `resnet_study.preact`: The pre-activation block of He et al. (2016b)
- `resnet_study.recipes`: The paper's training recipes as one table, budgets, and the range of every number
- `resnet_study.reference`: The published CIFAR-10 ResNet-20/32/44/56 weights, mapped into our option-A nets
- `resnet_study.report`: Every claim judged at every budget, Table 6, cost and Figure 6 from a folder of runs
- `resnet_study.runfolder`: The run folder's files: the one place that writes and reads them
- `resnet_study.runner`: What `resnet-study study` does: the study's runs, resumed, then signals and report
- `resnet_study.runs`: Run folders that survive a kill: `train_run`, resume, several GPUs, `evaluate_run`
- `resnet_study.schedules`: The learning rate as the paper sets it: CIFAR steps, ImageNet plateaus, warm-up
- `resnet_study.signals`: Forward responses and backward gradients of every 3x3 layer (Figure 7)
- `resnet_study.sources`: CIFAR-10's formats, checked, decoded once and cached as one tensor per split
- `resnet_study.study`: The study as data: its nets, the paper's claims with their judges, the experiments
- `resnet_study.testing`: Small generated data for tests and demos, each kind written in one place
- `resnet_study.train`: The paper's recipes as fastai learners: `TrainConfig` and `make_learner`
- `resnet_study.walkthrough`: What every walkthrough chapter imports: the committed runs and the training switch"""

__version__ = "0.0.1"

import warnings as _warnings
# fastai's layers module compiles two activations with `torch.jit.script` when it is imported, which torch
# deprecates: a warning about fastai's code, not ours, that would otherwise open every notebook and command
_warnings.filterwarnings("ignore", message=r"`torch.jit.script` is deprecated", category=FutureWarning)
