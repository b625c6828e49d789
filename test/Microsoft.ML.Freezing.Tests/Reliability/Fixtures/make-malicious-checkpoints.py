#!/usr/bin/env python3
"""Writes the malicious PyTorch checkpoints of Reliability/ModelFileReliabilityTests (run with Debian's python3-torch):

    /usr/bin/python3 make-malicious-checkpoints.py

Each is a normal torch.save zip whose pickle holds an object with a __reduce__ that calls code when unpickled by Python
(torch.load without weights_only=True): it writes the file FREEZING_PICKLE_RAN into the current folder. The test checks
that PretrainedWeights.FromPyTorch rejects them without running anything, and (when torch is installed) that
torch.load does run them, so the fixtures stay live.
"""
import builtins
import collections
import os

import torch

MARKER = "FREEZING_PICKLE_RAN"


class RunsShell:
    def __reduce__(self):
        return (os.system, (f"echo ran > {MARKER}",))


class RunsPython:
    def __reduce__(self):
        return (builtins.exec, (f"open({MARKER!r}, 'w').write('ran')",))


here = os.path.dirname(os.path.abspath(__file__))
# A state dict with a real tensor, then the payload as one more value.
torch.save(collections.OrderedDict([("conv1.weight", torch.zeros(2, 2)), ("payload", RunsShell())]),
           os.path.join(here, "reduce-os-system.pth"))
# The payload as the wrapped state dict of a training checkpoint.
torch.save({"state_dict": RunsPython(), "epoch": 3}, os.path.join(here, "reduce-builtins-exec.pth"))
