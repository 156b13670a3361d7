"""Every bad input is refused the same way: exit code 2, one line on stderr that names the value, no traceback,
nothing on stdout, and no file created or changed. One row per case; the files each case could touch are
checked byte for byte, hidden temporary files included."""

import os
import shutil
import socket
import sys

import pytest
import torch
from typer.testing import CliRunner

from seprof.cli import app

runner = CliRunner()

# (command line, text the error line must contain). "{d}" is the test's own folder, where keep.csv and keep.pt
# already exist; most rows also get "--csv {d}/keep.csv" appended, to show a refused run leaves it alone.
CASES = [
    # numbers
    ("inject resnet50 -r 0", "--r 0 is invalid: the reduction ratio is an integer of at least 1"),
    ("inject resnet50 --r 1e9", "--r '1e9' is not a whole number: the reduction ratio is an integer of at least 1"),
    ("inject resnet50 --r abc", "--r 'abc' is not a whole number"),
    ("inject resnet50 --r 2.5", "--r '2.5' is not a whole number"),
    ("inject resnet50 --r -3", "--r -3 is invalid"),
    ("inject resnet50 --r 300", "--r 300 is larger than the 256 channels of stage 2; choose r between 1 and 256"),
    ("inject resnet50 --runs 0", "--runs 0 is invalid: the number of timed rounds is an integer of at least 1"),
    ("inject resnet50 --runs many", "--runs 'many' is not a whole number"),
    ("inject resnet50 --warmup -1", "--warmup -1 is invalid"),
    ("inject resnet50 --threads 0", "--threads 0 is invalid"),
    ("inject resnet50 --budget 0", "--budget '0' is not a time in seconds: give a finite number above 0"),
    ("inject resnet50 --budget nan", "--budget 'nan' is not a time in seconds"),
    ("inject resnet50 --budget inf", "--budget 'inf' is not a time in seconds"),
    ("inject resnet50 --budget soon", "--budget 'soon' is not a time in seconds"),
    ("zoo -r 0", "--r 0 is invalid"),
    ("zoo -r 1000 --family squeezenet", "none of the 2 models could be profiled; squeezenet1_0: --r 1000 is larger "
     "than the 128 channels of stage 2"),
    ("inject resnet50 -r ²", "--r '²' is not a whole number"),
    ("inject resnet50 --threads 1000", "--threads 1000 is more than the"),
    ("zoo --workers 0", "--workers 0 is invalid"),
    ("zoo --family squeezenet --workers 100001", "--workers 100001 is more than the"),
    ("models --details --family squeezenet --workers 100001", "--workers 100001 is more than the"),
    ("zoo --workers two", "--workers 'two' is not a whole number"),
    # lists
    ("inject resnet50 --stages 2,,3", "--stages 2,,3 has an empty entry: "
     "give stage numbers separated by single commas"),
    ("inject resnet50 --stages 2,", "--stages 2, has an empty entry"),
    ("inject resnet50 --stages 2,2", "--stages 2,2 names 2 twice: give each once"),
    ("inject resnet50 --stages 2 --stages 2", "--stages 2,2 names 2 twice"),
    ("inject resnet50 --stages x", "--stages x is not a list of stage numbers: 'x' is not a whole number"),
    ("inject resnet50 --stages 6", "stage 6 is not available: this model's stages are 2, 3, 4, 5"),
    ("inject resnet50 --stages ²", "--stages ² is not a list of stage numbers: '²' is not a whole number"),
    ("inject resnet50 --stages 2\n3", "--stages '2\\n3' is not a list of stage numbers"),
    ("compare resnet50 --strip-stage 2,3,4,5 --no-latency", "--strip-stage 2,3,4,5 removes SE from every stage it is "
     "in (2–5): that is the base model"),
    ("compare resnet50 --stages 3 --strip-stage 3 --no-latency", "--strip-stage 3 removes SE from "
     "every stage it is in"),
    ("compare resnet50 --strip-stage 4,x", "--strip-stage 4,x is not a list of stage numbers"),
    ("compare resnet50 --strip-stage 5 --strip-stage 5", "--strip-stage 5,5 names 5 twice"),
    ("compare resnet50 --strip-stage 7", "stage 7 is not available: SE is in stages 2, 3, 4, 5"),
    ("compare resnet50 --stages 2,3 --strip-stage 5", "stage 5 is not available: SE is in stages 2, 3"),
    ("inject resnet50 --batch 0", "--batch 0 is invalid: 0 is below 1"),
    ("inject resnet50 --batch 1,1", "--batch 1,1 names 1 twice"),
    ("inject resnet50 --batch 1,x", "--batch 1,x is not a list of batch sizes: 'x' is not a whole number"),
    ("inject resnet50 --batch ¹", "--batch ¹ is not a list of batch sizes"),
    # shapes
    ("inject resnet50 --input 3x224", "--input '3x224' is not C x H x W (or C x T x H x W for video)"),
    ("inject resnet50 --input 3x8x64x64", "--input 3x8x64x64 is not C×H×W, the input resnet50 takes, e.g. 3x224x224"),
    ("inject r3d_18 --input 3x112x112", "--input 3x112x112 is not C×T×H×W (a video clip), the input r3d_18 takes"),
    ("inject resnet50 --input 3x1x2x3x4", "--input '3x1x2x3x4' is not C x H x W (or C x T x H x W for video)"),
    ("inject resnet50 --heads", "--heads applies to segmentation and detection models"),
    ("compare lraspp_mobilenet_v3_large --heads --no-latency", "--heads applies to SE that seprof adds: "
     "lraspp_mobilenet_v3_large's own SE blocks are measured as built, and its heads have none (--add-missing adds"),
    ("inject fcn_resnet50 --heads --position pre", "--position pre has no place in a model's heads"),
    ("inject fasterrcnn_resnet50_fpn --mode train --runs 1", "--mode train needs a model that trains on images alone"),
    ("compare deeplabv3_resnet50 --mode train --runs 1", "--batch 1 (the default) is too small to time "
     "deeplabv3_resnet50 in train mode"),
    ("models --source tim", "--source 'tim' is not one of torchvision, timm"),
    ("models --source timm --task video", "--task 'video' applies to torchvision's models"),
    ("models --source timm --family resnt", "--family 'resnt' is not one of timm's modules seprof knows"),
    ("models --task foo", "--task 'foo' is not one of classification, segmentation, detection, video, optical_flow, "
     "quantization, all"),
    ("zoo --task foo", "--task 'foo' is not one of classification"),
    ("models --family resnet --task video", "--family 'resnet' has no video model"),
    ("inject resnet50 --input 0x224x224", "--input '0x224x224' is not C x H x W"),
    ("inject resnet50 --input 3x-1x224", "--input '3x-1x224' is not C x H x W"),
    ("inject resnet50 --input 3x²x64", "--input '3x²x64' is not C x H x W"),
    ("inject resnet50 --input 1x224x224 --no-latency",
     "--input 1x224x224 has 1 channel, but ResNet takes 3: its first convolution (conv1) has in_channels=3"),
    ("inject vit_b_16 --input 4x224x224 --no-latency", "--input 4x224x224 has 4 channels, "
     "but VisionTransformer takes 3"),
    ("inject resnet50 --input 3x100000x100000 --no-latency", "--input 3x100000x100000 is too large: resnet50 at input "
     "3x100000x100000, batch 1, needs at least"),
    ("inject resnet18 --batch 100000 --runs 1", "--batch 100000 is too large: "
     "resnet18 at input 3x224x224, batch 100000"),
    # choices
    ("inject resnet50 --device tpu", "--device 'tpu' is not one of auto, cpu, cuda"),
    ("inject resnet50 --mode eval", "--mode 'eval' is not one of infer, train"),
    ("inject resnet50 --dtype int8", "--dtype 'int8' is not one of float32, float16, bfloat16"),
    ("inject resnet18 --dtype float16 --device cpu --runs 1", "--dtype float16 is not supported on the CPU: use "
     "bfloat16 or float32 there"),
    # timing options without timing
    ("inject resnet50 --no-latency --dtype float16", "--dtype float16 applies to timing, which --no-latency turns off"),
    ("inject resnet50 --no-latency --compile", "--compile applies to timing, which --no-latency turns off"),
    ("inject resnet50 --no-latency --memory", "--memory applies to timing"),
    ("inject resnet50 --no-latency --runs 5", "--runs 5 applies to timing"),
    ("inject resnet50 --no-latency --threads 1", "--threads 1 applies to timing"),
    ("inject resnet50 --no-latency --budget 10", "--budget 10 applies to timing"),
    ("inject resnet50 --no-latency --mode train", "--mode train applies to timing"),
    ("inject resnet50 --no-latency --channels-last", "--channels-last applies to timing"),
    ("compare resnet50 --no-latency --batch 1,8", "--batch 1,8 applies to timing "
     "(MACs are per image), which --no-latency"),
    ("inject resnet50 --no-latency --batch 8", "--batch 8 applies to timing (MACs are per image), which --no-latency"),
    ("inject resnet50 --no-latency --warmup 5", "--warmup 5 applies to timing"),
    ("inject resnet50 --no-latency --device cpu", "--device cpu applies to timing"),
    ("inject resnet50 --no-latency -v", "--verbose shows the latency's spreads, which --no-latency turns off"),
    # models and families
    ("inject resnet5", "unknown model 'resnet5': did you mean resnet50"),
    ("stages vgg17", "unknown model 'vgg17': did you mean vgg19, vgg16, vgg13?"),
    ("models --family transformers", "unknown family 'transformers': choose from resnet, regnetx"),
    ("zoo --family nope", "unknown family 'nope'"),
    ("models --workers 2", "--workers 2 applies to building the models, which --details asks for"),
    ("models --details --workers ²", "--workers '²' is not a whole number"),
    ("inject efficientnet_b0", "efficientnet_b0 already has 16 SE blocks of its own (stages 1–5): measure them with "
     "'seprof compare efficientnet_b0'; every block of it that seprof knows already has SE, so there is none to add"),
    ("inject mobilenet_v3_small --no-latency", "measure them with 'seprof compare mobilenet_v3_small'; or use "
     "--add-missing to add SE to its 2 blocks without one"),
    ("compare efficientnet_b0 -r 8 --no-latency", "--r 8 applies to SE that seprof adds: efficientnet_b0's own SE "
     "blocks keep their widths and biases (--add-missing adds SE to its blocks without one)"),
    ("compare efficientnet_b0 --no-bias --no-latency", "--no-bias applies to SE that seprof adds"),
    ("inject resnet50 --add-missing --no-latency", "--add-missing applies to models with SE blocks of their own; "
     "resnet50 has none"),
    ("inject efficientnet_b0 --add-missing --no-latency", "every block of efficientnet_b0 that seprof knows already "
     "has an SE block of its own"),
    # the model's own attention, measured (--own-attention)
    ("compare timm:skresnet18 --own-attention --no-latency", "--own-attention adds nothing for timm:skresnet18 (drop "
     "it): seprof cannot measure its own attention, 8 SelectiveKernel (sk): it is the block's 3×3 conv (a "
     "selective-kernel conv, with the block's stride); without it the block has no spatial conv"),
    ("compare timm:resnest14d --own-attention --no-latency", "seprof cannot measure its own attention, 4 SplitAttn "
     "(splat): it is the block's 3×3 conv (a split-attention conv"),
    ("compare resnet50 --own-attention --no-latency", "--own-attention finds no attention of resnet50's own: drop "
     "it, and seprof adds SE to its blocks"),
    ("compare efficientnet_b0 --own-attention --no-latency", "--own-attention adds nothing for efficientnet_b0 (drop "
     "it): its SE-like attention (SqueezeExcitation (se)) is measured without it"),
    ("compare timm:gcresnext26ts --own-attention --add-missing --no-latency", "--own-attention measures the model's "
     "own attention against the model without it, and --add-missing adds SE beside it: give one of them"),
    ("compare timm:gcresnext26ts --own-attention -r 8 --no-latency", "--r 8 applies to SE that seprof adds, and "
     "--own-attention measures timm:gcresnext26ts's own attention as built: give one of them"),
    ("inject timm:gcresnext26ts --own-attention", "No such option: --own-attention"),
    # blocks, positions and knobs
    ("inject vgg11 --position pre --no-latency", "--position pre has no place in VGG: SENet's positions (Fig. 5) are "
     "defined for the residual units of ResNet, ResNeXt and Wide ResNet (BasicBlock, Bottleneck), RegNet "
     "(ResBottleneckBlock), and for models seprof places by its generic residual rule"),
    ("compare densenet121 --position post --no-latency", "--position post has no place in _DenseLayer blocks"),
    ("inject user_models:build_residual --position identity --no-latency", "--position identity cannot be placed in "
     "ResidualNet: seprof places SE there by its generic residual rule, which puts SE on modules"),
    ("inject user_models:build_residual --position post --no-latency", "--position post cannot be placed in "
     "ResidualNet: 'body.0.act', where it goes, runs more than once per forward pass (one module used twice)"),
    ("inject resnet50 --scse-combine max --no-latency", "--scse-combine max applies to scSE only (--block se has "
     "one map): drop it"),
    ("inject resnet50 --block sse --scse-combine add --no-latency", "--scse-combine add applies to scSE only"),
    ("inject resnet50 --divisor 0", "--divisor 0 is invalid: the divisor is an integer of at least 1"),
    ("inject resnet50 --divisor x", "--divisor 'x' is not a whole number"),
    ("inject resnet50 --block ecaa", "--block 'ecaa' is not one of se, cse, sse, scse, ese, eca, ecam, ceca, ge, gc, "
     "gca, cbam, lcbam, coord, scoord, ela, strip"),
    # timm's kinds and their knobs
    ("inject resnet50 --block cbam -r 8", "--r 8 applies to seprof's se, sse and scse, not to --block cbam: cbam's "
     "own knobs are listed by seprof blocks and given as --knob NAME=VALUE"),
    ("inject resnet50 --block eca --no-bias", "--no-bias applies to seprof's se, sse and scse, not to --block eca"),
    ("inject resnet50 --block gc --gate tanh", "--gate tanh applies to seprof's se, sse and scse, not to --block gc"),
    ("inject resnet50 --block coord --squeeze max", "--squeeze max applies to seprof's se, sse and scse"),
    ("inject resnet50 --block ese --divisor 8", "--divisor 8 applies to seprof's se, sse and scse"),
    ("inject resnet50 --block lcbam --scse-combine max", "--scse-combine max applies to seprof's se, sse and scse"),
    ("inject resnet50 --knob rd_ratio=1/8", "--knob 'rd_ratio=1/8' is a knob of timm's kinds: give --block KIND "
     "with it"),
    ("inject resnet50 --block se --knob rd_ratio=1/8", "--knob 'rd_ratio=0.125' applies to timm's kinds; --block se "
     "takes seprof's own (r, bias, divisor)"),
    ("inject resnet50 --block cbam --knob gamma=2", "--knob 'gamma=2' is not a knob of cbam (its knobs: rd_ratio, "
     "rd_divisor, spatial_kernel_size, mlp_bias)"),
    ("inject resnet50 --block cbam --knob spatial_kernel_size", "--knob 'spatial_kernel_size' is not NAME=VALUE"),
    ("inject resnet50 --block cbam --knob =3", "--knob '=3' is not NAME=VALUE"),
    ("inject resnet50 --block cbam --knob spatial_kernel_size=", "--knob 'spatial_kernel_size=' is not NAME=VALUE"),
    ("inject resnet50 --block cbam --knob spatial_kernel_size=0", "--knob 'spatial_kernel_size=0' is not an odd "
     "kernel size (cbam's default: 7)"),
    ("inject resnet50 --block cbam --knob spatial_kernel_size=2", "--knob 'spatial_kernel_size=2' is not an odd "
     "kernel size"),
    ("inject resnet50 --block ela --knob kernel_size=3.5", "--knob 'kernel_size=3.5' is not an odd kernel size"),
    ("inject resnet50 --block ge --knob extent=2", "--knob 'extent=2' is not a knob of ge: a local gather (extent > 0) "
     "has no work formula here"),
    ("inject resnet50 --block eca --knob use_mlp=true", "--knob 'use_mlp=true' is not a knob of eca: it belongs to "
     "ECA's MLP variant, --block ecam"),
    ("inject resnet50 --block ceca --knob act_layer=foo", "--knob 'act_layer=foo' is not one of celu, elu, gelu"),
    ("inject resnet50 --block eca --knob gamma=0", "--knob 'gamma=0' is not above 0 (eca's default: 2)"),
    ("inject resnet50 --block cbam --knob rd_ratio=-1", "--knob 'rd_ratio=-1' is not above 0"),
    ("inject resnet50 --block cbam --knob rd_ratio=x", "--knob 'rd_ratio=x' is not a number"),
    ("inject resnet50 --block gc --knob fuse_add=yes", "--knob 'fuse_add=yes' is not true or false"),
    ("inject resnet50 --block eca --knob kernel_size=4", "--knob 'kernel_size=4' is not an odd kernel size"),
    ("inject resnet50 --block ecam --knob kernel_size=5", "--knob 'kernel_size=5' is not a knob of ecam: its MLP "
     "needs C"),
    ("inject resnet50 --block cbam --knob spatial_kernel_size=3,5", "gives several values, which only seprof sweep "
     "takes: give one"),
    ("inject resnet50 --block cbam --knob rd_ratio=1/8 --knob rd_ratio=1/4", "--knob 'rd_ratio=1/4' gives rd_ratio "
     "twice: give it once"),
    ("inject vit_b_16 --block cbam", "--block cbam gates positions on an H×W grid, and stage 4's features are 197 "
     "tokens without one; on tokens use se, sse, scse, ese, eca, ecam, ceca, ge, gc, gca"),
    ("sweep resnet50 --block se,eca --knob spatial_kernel_size=3", "--knob 'spatial_kernel_size=3' is a knob of none "
     "of the blocks swept (eca:"),
    ("sweep resnet50 --block eca,cbam --r 4,8", "--r 4,8 applies to none of the blocks swept (--block eca,cbam)"),
    ("sweep resnet50 --block eca,cbam --gate tanh", "--gate tanh applies to none of the blocks swept"),
    ("inject resnet50 --block sse -r 8 --no-latency", "--r 8 applies to channel excitation, which --block sse does "
     "not have: use se, cse or scse"),
    ("inject resnet50 --block sse --squeeze max", "--squeeze max applies to channel excitation"),
    ("inject resnet50 --block sse --divisor 8", "--divisor 8 applies to channel excitation"),
    ("inject resnet50 --squeeze min", "--squeeze 'min' is not one of avg, max"),
    ("inject resnet50 --gate softmax", "--gate 'softmax' is not one of sigmoid, hardsigmoid, tanh, relu"),
    ("inject resnet50 --position middle", "--position 'middle' is not one of standard, pre, post, identity"),
    ("compare efficientnet_b0 --block scse --no-latency", "--block scse applies to SE that seprof adds"),
    ("compare efficientnet_b0 --position pre --no-latency", "--position pre applies to SE that seprof adds"),
    ("inject resnet50 --r 300 --position pre --no-latency", "--r 300 is larger than the 64 channels of stage 2"),
    ("stages vgg11 --position pre", "--position pre has no place in VGG:"),
    ("stages efficientnet_b0 --position pre", "--position pre has no place in EfficientNet, whose blocks all hold SE "
     "of their own"),
    ("stages resnet50 --position side", "--position 'side' is not one of standard, pre, post, identity"),
    # sweeps and the paper
    ("sweep resnet50 --stages 2,,3 --no-latency", "--stages 2,,3 has an empty entry: give stage sets separated by "
     "single commas"),
    ("sweep resnet50 --stages 9 --no-latency", "stage 9 is not available: this model's stages are 2, 3, 4, 5"),
    ("sweep resnet50 --stages 4+4", "--stages 4+4 names a stage twice in '4+4'"),
    ("sweep resnet50 --stages x+1", "--stages x+1 has 'x+1', which is neither all, each nor stages joined by +"),
    ("sweep resnet50 --stages each --stages each", "--stages each,each names each twice"),
    ("sweep resnet50 --block se,se", "--block se,se names se twice: give each once"),
    ("sweep resnet50 --block se,,sse", "--block se,,sse has an empty entry"),
    ("sweep resnet50 --block se,ecb", "--block 'ecb' is not one of se, cse, sse, scse, ese, eca"),
    ("sweep resnet50 --scse-combine max", "--scse-combine max applies to none of the blocks swept (--block se)"),
    ("sweep resnet50 --block sse --r 4,8", "--r 4,8 applies to none of the blocks swept (--block sse)"),
    ("sweep resnet50 --r 0", "--r '0' is invalid: 0 is below 1"),
    ("sweep resnet50 --r 300 --no-latency", "--r 300 is larger than the 256 channels of stage 2"),
    ("sweep resnet50 --divisor 0", "--divisor '0' is invalid"),
    ("sweep vgg11 --position standard,pre --no-latency", "--position pre has no place in VGG:"),
    ("sweep efficientnet_b0 --no-latency", "efficientnet_b0 already has 16 SE blocks of its own"),
    ("sweep resnet50 --no-latency --runs 3", "--runs 3 applies to timing"),
    ("sweep resnet50 --no-latency --plot {d}/p.pgf", "--plot"),
    # a user's factories
    ("inject user_models:build_mlp", "nowhere seprof can put SE"),
    ("inject user_models:nope", "module 'user_models' has no 'nope'"),
    ("inject user_models:not_a_factory", "'user_models:not_a_factory' is not callable"),
    ("inject user_models:build_not_a_module", "returned str, not a torch.nn.Module"),
    ("inject user_models:Block", "user_models:Block cannot be called with no arguments (missing a required argument: "
     "'channels'): seprof calls a factory with none"),
    ("inject :build", "model ':build' is not package.module:function"),
    ("inject no_such_package.models:build", "cannot import 'no_such_package.models' for model"),
    ("inject bad_syntax:build", "cannot import 'bad_syntax' for model 'bad_syntax:build': SyntaxError: invalid syntax"),
    ("inject raises_on_import:build", "cannot import 'raises_on_import' for model 'raises_on_import:build': "
     "ValueError: no config file"),
    ("inject exits_on_import:build", "cannot import 'exits_on_import' for model 'exits_on_import:build': it called "
     "sys.exit(3)"),
    ("inject exiting_factory:build --no-latency", "exiting_factory:build() failed: it called sys.exit(0)"),
    ("inject user_models:build_cifar --no-latency", "Cifar cannot run on input 3x224x224"),
    ("inject locked:build --no-latency", "ResNet cannot be copied (TypeError: cannot pickle '_thread.lock' object): "
     "seprof measures copies and never changes your model"),
    ("inject bad_str:build --no-latency", "bad_str:build() failed: Weird"),
    ("inject user_models:build_tiny_r --no-latency", "--r 16 (the default) is larger than the 8 channels of stage"),
    ("inject user_models:build_needs_values --no-latency", "a forward that needs tensor values cannot be analysed"),
    # output paths
    ("inject resnet18 --csv {d}/out.csv --json {d}/out.csv", "--csv '{d}/out.csv' and --json '{d}/out.csv' both write"),
    ("inject resnet18 --csv {d}/keep.csv --stages-csv {d}/./keep.csv", "both write '{d}/keep.csv': give each output "
     "its own path"),
    ("inject resnet18 --csv {d}/link.csv --json {d}/keep.csv", "--csv '{d}/link.csv' and "
     "--json '{d}/keep.csv' both write"),
    ("inject resnet18 --csv - --json -", "--csv '-' and --json '-' both write standard output"),
    ("inject resnet18 --save -", "--save: cannot write this output to standard output ('-'): give a file path"),
    ("inject resnet18 --csv /dev/null", "--csv: cannot write '/dev/null': it is a character device, not a regular "
     "file; give a file path (or - for standard output)"),
    ("inject resnet18 --csv {d}/fifo", "it is a FIFO (named pipe), not a regular file"),
    ("inject resnet18 --csv {d}/socket", "it is a socket, not a regular file"),
    ("inject resnet18 --json {d}", "cannot write '{d}': it is a folder; give a file name"),
    ("inject resnet18 --csv {d}/loop1", "cannot write '{d}/loop1': it is a symlink that leads back to itself"),
    ("inject resnet18 --csv {d}/dangling.csv", "cannot write '{d}/dangling.csv': folder '{d}/nowhere', where the "
     "symlink '{d}/dangling.csv' points, does not exist"),
    ("inject resnet18 --csv /dev/stdout", "cannot write '/dev/stdout': it is"),
    ("inject resnet18 --json {d}/missing/r.json", "cannot write '{d}/missing/r.json': "
     "folder '{d}/missing' does not exist"),
    ("compare resnet18 --no-latency --plot {d}/p.xyz", "--plot '{d}/p.xyz' has the suffix 'xyz', not a picture format"),
    ("compare resnet18 --no-latency --plot {d}/missing/p.png", "folder '{d}/missing' does not exist"),
    # every way a path can name no file to write, refused before any work, whatever else the run writes
    ("inject resnet18 --no-latency --csv {d}/keep.csv --stages-csv {d}/st.csv --json ''", "--json: cannot write '': "
     "the path is empty; give a file name (or - for standard output)"),
    ("inject resnet18 --no-latency --csv ''", "--csv: cannot write '': the path is empty"),
    ("inject resnet18 --no-latency --save ''", "--save: cannot write '': the path is empty; give a file name"),
    ("zoo --family squeezenet --csv ''", "--csv: cannot write '': the path is empty"),
    ("paper --csv ''", "--csv: cannot write '': the path is empty"),
    ("compare resnet18 --no-latency --plot ''", "--plot: cannot write '': the path is empty"),
    ("sweep resnet18 --no-latency --json ''", "--json: cannot write '': the path is empty"),
    (f"inject resnet18 --no-latency --csv {{d}}/{'a' * 300}.csv", "its name is 304 bytes long, and names are at most "
     "255; give a shorter name"),
    (f"inject resnet18 --no-latency --save {{d}}/{'a' * 300}.pt", "--save: cannot write '{d}/aaaa"),
    (f"paper --csv {{d}}/{'a' * 300}.csv", "--csv: cannot write '{d}/aaaa"),
    (f"zoo --json {{d}}/{'a' * 300}.json", "--json: cannot write '{d}/aaaa"),
    (f"inject resnet18 --stages-csv {{d}}/{'a' * 300}/s.csv", "the folder name 'aaaa"),
    ("inject resnet18 --json {d}/keep.csv/out.json", "cannot write '{d}/keep.csv/out.json': '{d}/keep.csv' is a file, "
     "not a folder"),
    ("inject resnet18 --csv /proc/version", "--csv: cannot write '/proc/version': its folder '/proc' does not take new "
     "files; choose another path"),
    ("paper --csv /proc/version", "--csv: cannot write '/proc/version'"),
    ("inject resnet18 --csv {d}/out/", "cannot write '{d}/out/': it names a folder, not a file"),
    # what to type instead: a model given as a command, a second MODEL, a list given as several words
    ("resnet50", "'resnet50' is a model, not a command: type 'seprof inject resnet50' for what SE costs in it"),
    ("timm:resnet18 --r 8", "'timm:resnet18' is a model, not a command: type 'seprof inject timm:resnet18'"),
    ("compare resnet50 5", "'5' is an extra argument: seprof compare takes one MODEL, and values go with their "
     "options (e.g. --stages 4,5)"),
    ("inject resnet50 resnet18", "'resnet18' is an extra argument: seprof inject takes one MODEL"),
    ("sweep resnet50 --r 4 8 16", "'8 16' after --r 4 are extra arguments: give a list as one value, --r 4,8,16"),
    ("inject resnet50 --stages 4 5", "'5' after --stages 4 is an extra argument: give a list as one value, "
     "--stages 4,5"),
    ("inject resnet50 --r 4 8", "'8' after --r 4 is an extra argument: --r takes one value (seprof sweep takes "
     "several)"),
    ("inject resnet50 --input 3x224x224 3x112x112", "'3x112x112' after --input 3x224x224 is an extra argument: "
     "--input takes one value (see"),
    ("inject --no-latency resnet50 5", "'5' is an extra argument: seprof inject takes one MODEL"),
    ("compare efficientnet_b0 --squeeze avg --no-latency", "--squeeze avg applies to SE that seprof adds"),
    ("inject resnet50 --stages all,2", "--stages all,2 is not a list of stage numbers: 'all' is not a whole number"),
    ("inject resnet50 --details --details", "--details is given twice"),
    ("compare efficientnet_b0 --gate tanh --no-latency", "--gate tanh applies to SE that seprof adds"),
    ("compare efficientnet_b0 --r 16 --no-latency", "--r 16 applies to SE that seprof adds"),
    ("compare efficientnet_b0 --block se --no-latency", "--block se applies to SE that seprof adds"),
    ("inject resnet50 --plot {d}/p.unknown --no-latency", "--plot"),
    # models built for their input (ViT's image_size, MaxViT's input_size)
    ("stages vit_b_16 --input 3x16x224x224", "--input 3x16x224x224 is not C×H×W, the input vit_b_16 takes"),
    ("inject vit_b_16 --input 3x384x256 --no-latency", "--input 3x384x256 is not square: vit_b_16 is built for a "
     "square image_size; give C x S x S, e.g. 3x384x384"),
    ("inject vit_b_16 --input 3x250x250 --no-latency", "--input 3x250x250 is not a size vit_b_16 can be built for: "
     "Input shape indivisible by patch size!"),
    ("compare maxvit_t --input 3x256x256 --no-latency", "--input 3x256x256 is not a size maxvit_t can be built for: "
     "Input size (64, 64) of block 0 is not divisible by partition size 7"),
    # an option that takes one value, given twice, is refused rather than the last one kept
    ("inject resnet18 --r 16 --r 8", "--r is given twice (--r 16, then --r 8): give it once"),
    ("inject resnet18 --device tpu --device cpu", "--device is given twice (--device tpu, then --device cpu)"),
    ("compare resnet18 -r8 --r=4", "--r is given twice (-r 8, then --r 4)"),
    ("inject resnet18 --bias --no-bias", "--bias/--no-bias is given twice (--bias, then --no-bias)"),
    ("inject resnet18 -r 16 -vr8", "--r is given twice (-r 16, then -r 8)"),
    ("inject resnet18 -vr 8 --r=4", "--r is given twice (-r 8, then --r 4)"),
    ("inject resnet18 -v -v --no-latency", "--verbose is given twice (-v, then -v)"),
    ("sweep resnet18 --budget 5 --budget=6", "--budget is given twice (--budget 5, then --budget 6)"),
    ("inject resnet18 --budget 3_0", "--budget '3_0' is not a time in seconds"),
    ("inject resnet18 --budget ３０", "--budget '３０' is not a time in seconds"),
    ("inject resnet18 --json {d}/a.json --json {d}/b.json", "--json is given twice"),
    ("paper --csv {d}/a.csv --csv {d}/b.csv", "--csv is given twice"),
    ("stages resnet18 --input 3x64x64 --input 3x32x32", "--input is given twice"),
    ("inject resnet18 --no-latency --no-latency", "--no-latency is given twice (--no-latency, then --no-latency)"),
    # numbers too large to mean anything, and negative stages
    ("inject resnet18 --stages=-1", "--stages -1 is invalid: -1 is below 0 (e.g. 2,3,4,5)"),
    ("compare resnet18 --strip-stage -5", "--strip-stage -5 is invalid: -5 is below 0"),
    (f"inject resnet18 --input 3x{'9' * 5000}x224", f"--input '3x{'9' * 38}…{'9' * 11}x224' is too large (5,000 "
     "digits): each size takes at most 18 digits"),
    ("inject resnet18 --input 3x99999999999x224", "--input '3x99999999999x224' is too large: 6.72e+13 values per "
     "sample, and seprof takes at most 2^40"),
    (f"inject resnet18 --r {'9' * 5000}", f"--r '{'9' * 40}…{'9' * 15}' is too large (5,000 digits): the reduction "
     "ratio takes at most 18 digits"),
    (f"sweep resnet18 --stages 2+{'9' * 30}", "is too large (30 digits): each stage number takes at most 18 digits"),
    (f"inject resnet18 --batch 1,{'9' * 19}", "is too large (19 digits): each of the batch sizes takes at most 18 "
     "digits"),
    # knobs out of range, and two names of one block
    ("inject resnet18 --divisor 100000 --no-latency", "--divisor 100000 rounds the hidden width of stage 2's 64 "
     "channels up to 100000, wider than the channels it reduces; choose a divisor of at most 64"),
    ("sweep resnet18 --divisor 8,100 --no-latency", "--divisor 100 rounds the hidden width of stage 2's 64 channels"),
    ("sweep resnet18 --block se,cse", "--block se,cse names one block twice: se and cse are two names of it; give it "
     "once"),
    # timing that could not end within its budget, and training that could not fit, refused up front
    ("inject resnet18 --runs 1001", "--runs 1001 is more than 1000, the most rounds seprof times: choose 1 to 1000, or "
     "leave it out and give a budget in seconds"),
    ("inject resnet18 --runs 100000 --budget 2", "--runs 100000 is more than 1000, the most rounds seprof times"),
    ("inject resnet18 --warmup 1001", "--warmup 1001 is more than 1000, the most warm-up calls seprof makes: choose 0 "
     "to 1000"),
    ("compare resnet50 --warmup 1000000 --runs 5", "--warmup 1000000 is more than 1000"),
    ("sweep resnet18 --runs 5000", "--runs 5000 is more than 1000"),
    ("inject vit_b_16 --batch 2000 --mode train --runs 1", "--batch 2000 is too large: vit_b_16 at input 3x224x224, "
     "batch 2000, needs at least"),
    # a forward pass at batch 600 needs about 4 GB, a training step over 60 GiB: the train check refuses it
    ("inject resnet50 --batch 600 --mode train --runs 1", "--batch 600 is too large: resnet50 at input 3x224x224, "
     "batch 600, needs at least 60.7 GiB in train mode (60.4 GiB of input and activations kept for the backward "
     "pass, 0.3 GiB of weights and gradients)"),
    # timm names with a weights tag timm has no configuration for
    ("inject timm:resnet18.nonexistent_tag --no-latency", "unknown pretrained tag 'nonexistent_tag' in "
     "'timm:resnet18.nonexistent_tag': the tags of timm:resnet18 are a1_in1k, a2_in1k, a3_in1k"),
    ("compare timm:seresnet50.bad --no-latency", "unknown pretrained tag 'bad' in 'timm:seresnet50.bad': the tags of "
     "timm:seresnet50 are a1_in1k, a2_in1k, a3_in1k, ra2_in1k (the first is its default); or name timm:seresnet50 "
     "alone"),
    ("stages timm:resnet18.", "unknown pretrained tag '' in 'timm:resnet18.'"),
    # factories that are seprof itself
    ("inject seprof.cli:main", "model 'seprof.cli:main' names seprof's own code, which builds no model"),
    ("inject seprof:profile --no-latency", "model 'seprof:profile' names seprof's own code"),
    ("inject selfcall:build --no-latency", "selfcall:build() calls seprof on itself while it builds its model"),
    # an output that fails as it is written: reported before the report is shown, every old file kept
    pytest.param("compare resnet18 --no-latency --plot {d}/p.pgf", "--plot: cannot write '{d}/p.pgf': RuntimeError: "
                 "'xelatex' not found", marks=pytest.mark.skipif(shutil.which("xelatex") is not None,
                                                                 reason="xelatex is installed: the PGF is written")),
    # a failure after some work: nothing is written, the old checkpoint stays
    ("inject resnet18 --input 3x32x32 --mode train --runs 1 --device cpu --save {d}/keep.pt",
     "resnet18 failed while timing (train mode, batch 1, float32): Expected more than 1 value per channel"),
]

FACTORY_MODULES = {
    "bad_syntax.py": "def build(:\n    pass\n",
    "raises_on_import.py": "raise ValueError('no config file')\n",
    "exits_on_import.py": "import sys\nsys.exit(3)\n",
    "exiting_factory.py": "import sys\n\ndef build():\n    sys.exit(0)\n",
    "prints_then_fails.py": "print('importing')\n\ndef build():\n    print('building')\n"
                            "    raise RuntimeError('no GPU found')\n",
    "locked.py": "import threading\nfrom torchvision.models import resnet18\n\ndef build():\n    model = resnet18()\n"
                 "    model.lock = threading.Lock()\n    return model\n",
    "selfcall.py": "import seprof\n\ndef build():\n    return seprof.build_model('selfcall:build')\n",
    "bad_str.py": "class Weird(Exception):\n    def __str__(self):\n        raise RuntimeError('no text')\n\n"
                  "def build():\n    raise Weird()\n",
}


def _files(folder):
    """Every entry in ``folder`` (hidden ones too) with its kind and content."""
    state = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.islink(path):
            state[name] = ("link", os.readlink(path))
        elif os.path.isfile(path):
            with open(path, "rb") as f:
                state[name] = ("file", f.read())
        else:
            state[name] = ("other", None)
    return state


@pytest.fixture
def folder(tmp_path, monkeypatch):
    (tmp_path / "keep.csv").write_text("keep me\n")
    torch.save({"keep": torch.zeros(1)}, tmp_path / "keep.pt")
    (tmp_path / "link.csv").symlink_to(tmp_path / "keep.csv")
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    (tmp_path / "dangling.csv").symlink_to(tmp_path / "nowhere" / "x.csv")
    os.mkfifo(tmp_path / "fifo")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "socket"))
    code = tmp_path / "code"
    code.mkdir()
    for name, text in FACTORY_MODULES.items():
        (code / name).write_text(text)
    monkeypatch.chdir(code)  # factories are imported from the current folder
    yield tmp_path
    server.close()
    for name in FACTORY_MODULES:
        sys.modules.pop(name.removesuffix(".py"), None)


@pytest.mark.parametrize("command, expected", CASES, ids=[c.values[0] if hasattr(c, "values") else c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(command, expected, folder):
    args = ["" if arg == "''" else arg for arg in command.format(d=folder).replace("\\n", "\n").split(" ")]
    if args[0] in ("inject", "compare", "zoo") and not any(a.split("=")[0] in ("--csv", "--json") for a in args):
        args += ["--csv", str(folder / "keep.csv")]
    before = _files(folder)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("seprof: error: "), result.stderr
    assert expected.format(d=folder) in lines[0]
    assert "Traceback" not in result.output
    assert _files(folder) == before


def test_what_a_factory_prints_goes_to_stderr_never_stdout(folder):
    result = runner.invoke(app, ["inject", "prints_then_fails:build", "--no-latency", "--csv", "-"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines() == ["importing", "building",
                                          "seprof: error: prints_then_fails:build() failed: RuntimeError: no GPU found"]


def test_the_matrix_is_large():
    assert len(CASES) >= 60


def test_a_factory_is_called_once_even_when_it_fails(folder):
    (folder / "code" / "counting.py").write_text(
        "CALLS = []\n\ndef build():\n    CALLS.append(1)\n    raise RuntimeError('out of ideas')\n")
    result = runner.invoke(app, ["inject", "counting:build", "--no-latency"])
    assert result.exit_code == 2 and "counting:build() failed: RuntimeError: out of ideas" in result.stderr
    assert sys.modules["counting"].CALLS == [1]
    sys.modules.pop("counting")


def test_a_working_factory_is_called_once_for_counting_and_timing(folder):
    (folder / "code" / "counted.py").write_text(
        "from torchvision.models import resnet18\nCALLS = []\n\ndef build():\n    CALLS.append(1)\n"
        "    return resnet18()\n")
    result = runner.invoke(app, ["inject", "counted:build", "--input", "3x64x64", "--runs", "1", "--warmup", "0"])
    assert result.exit_code == 0, result.output
    assert sys.modules["counted"].CALLS == [1]
    sys.modules.pop("counted")


def test_an_empty_list_value_is_shown_quoted():
    result = runner.invoke(app, ["inject", "resnet50", "--stages", ""])
    assert result.exit_code == 2 and result.stderr.strip() == (
        "seprof: error: --stages '' has an empty entry: give stage numbers separated by single commas, e.g. 2,3,4,5")
