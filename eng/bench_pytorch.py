#!/usr/bin/python3
"""The PyTorch peer of the speed benchmark (bench/Microsoft.ML.Freezing.Benchmarks, run by eng/bench.sh).

Debian's python3-torch (1.13) and python3-torchvision, 2 threads (torch.set_num_threads(2)), fp32, written the way a
PyTorch user writes it (NCHW, modules, requires_grad flips). Nothing here is timed by the caller: every command times
itself and answers one JSON line.

Usage:
  bench_pytorch.py export WEIGHTS.pth OUT.onnx     torchvision resnet18 with these weights -> ONNX, dynamic batch axis
  bench_pytorch.py worker WEIGHTS.pth              reads commands on stdin, answers one JSON line each:
      info                                  versions and threads
      train full|layer4|head STEPS          STEPS training steps of batch 32 at 224 (SGD momentum, frozen BN in eval)
      infer BATCHES                         BATCHES eval forward passes of batch 32 at 224 under no_grad
      rss                                   peak resident memory so far (VmHWM)
      quit
  bench_pytorch.py recipe DATA_DIR OUT.json        the seed's recipe by hand on what the benchmark wrote into DATA_DIR
                                                   (decoded pixels, labels, initial weights, our example order)
"""
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

THREADS = 2
BATCH = 32
SIZE = 224


def vmhwm_kb():
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def resnet18(weights_path):
    state = torch.load(weights_path, map_location="cpu")
    classes = state["fc.weight"].shape[0]
    model = torchvision.models.resnet18(num_classes=classes)
    model.load_state_dict(state, strict=True)
    return model, classes


def export(weights_path, onnx_path):
    torch.set_num_threads(THREADS)
    model, _ = resnet18(weights_path)
    model.eval()
    tmp = onnx_path + ".tmp"
    torch.onnx.export(model, torch.zeros(1, 3, SIZE, SIZE), tmp, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13,
                      do_constant_folding=True)
    os.replace(tmp, onnx_path)
    print(json.dumps({"onnx": onnx_path}))


# The stages of a torchvision ResNet, input first, as the seed article freezes them.
def stages(model):
    return [("stem", [model.conv1, model.bn1]), ("layer1", [model.layer1]), ("layer2", [model.layer2]),
            ("layer3", [model.layer3]), ("layer4", [model.layer4]), ("head", [model.fc])]


def freeze(model, trainable):
    """requires_grad flips, and frozen BatchNorms in eval mode after model.train()."""
    model.train()
    for name, modules in stages(model):
        for module in modules:
            for p in module.parameters():
                p.requires_grad = name in trainable
            if name not in trainable:
                module.eval()


TRAINABLE = {"full": {"stem", "layer1", "layer2", "layer3", "layer4", "head"}, "layer4": {"layer4", "head"},
             "head": {"head"}}


class Worker:
    def __init__(self, weights_path):
        torch.set_num_threads(THREADS)
        torch.manual_seed(0)
        self.weights_path = weights_path
        self.train_models = {}
        self.eval_model = None
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(BATCH, 3, SIZE, SIZE, generator=g)
        self.y = torch.randint(0, 1000, (BATCH,), generator=g)

    def info(self):
        return {"torch": torch.__version__, "torchvision": torchvision.__version__, "threads": torch.get_num_threads()}

    def train(self, case, steps):
        if case not in self.train_models:
            model, classes = resnet18(self.weights_path)
            freeze(model, TRAINABLE[case])
            params = [p for p in model.parameters() if p.requires_grad]
            opt = torch.optim.SGD(params, lr=0.001, momentum=0.9)
            self.train_models[case] = (model, opt, classes)
            self._steps(case, 1)  # warm-up
        start = time.perf_counter()
        self._steps(case, steps)
        seconds = time.perf_counter() - start
        return {"img_s": steps * BATCH / seconds, "seconds": seconds}

    def _steps(self, case, steps):
        model, opt, classes = self.train_models[case]
        y = self.y % classes
        for _ in range(steps):
            loss = F.cross_entropy(model(self.x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

    def infer(self, batches):
        if self.eval_model is None:
            self.eval_model, _ = resnet18(self.weights_path)
            self.eval_model.eval()
            with torch.no_grad():
                self.eval_model(self.x)  # warm-up
        start = time.perf_counter()
        with torch.no_grad():
            for _ in range(batches):
                self.eval_model(self.x)
        seconds = time.perf_counter() - start
        return {"img_s": batches * BATCH / seconds, "seconds": seconds}

    def run(self):
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            try:
                if words[0] == "quit":
                    print(json.dumps({"vmhwm_kb": vmhwm_kb()}), flush=True)
                    return
                elif words[0] == "info":
                    answer = self.info()
                elif words[0] == "train":
                    answer = self.train(words[1], int(words[2]))
                elif words[0] == "infer":
                    answer = self.infer(int(words[1]))
                elif words[0] == "rss":
                    answer = {"vmhwm_kb": vmhwm_kb()}
                else:
                    answer = {"error": f"unknown command {words[0]}"}
            except Exception as e:  # reported to the driver, which stops
                answer = {"error": f"{type(e).__name__}: {e}"}
            print(json.dumps(answer), flush=True)


def read_safetensors(path):
    """The safetensors format: u64 little-endian header length, JSON header, raw little-endian tensors."""
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    base = 8 + length
    dtypes = {"F32": np.float32, "I64": np.int64}
    state = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        array = np.frombuffer(data[base + begin:base + end], dtype=dtypes[entry["dtype"]]).reshape(entry["shape"])
        state[name] = torch.from_numpy(array.copy())
    return state


def recipe(data_dir, out_path):
    """The seed's recipe by hand: epoch 0 trains the head, epoch 1 thaws layer4, epoch 2 layer3; batch 32, SGD with
    momentum, one parameter group per stage, frozen BatchNorm in eval, fp32, data pre-decoded in RAM."""
    torch.set_num_threads(THREADS)
    with open(os.path.join(data_dir, "recipe.json"), encoding="utf-8") as f:
        spec = json.load(f)
    torch.manual_seed(spec["seed"])
    side = spec["image_size"]

    def load(split):
        count = spec[f"{split}_count"]
        pixels = np.fromfile(os.path.join(data_dir, f"{split}.u8"), dtype=np.uint8).reshape(count, side, side, 3)
        labels = torch.from_numpy(np.fromfile(os.path.join(data_dir, f"{split}.labels"), dtype="<i8").astype(np.int64))
        x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float()
        if spec["bgr"]:
            x = x.flip(1)
        mean = torch.tensor(spec["mean"]).view(1, 3, 1, 1)
        std = torch.tensor(spec["std"]).view(1, 3, 1, 1)
        return ((x * spec["scale"] - mean) / std).contiguous(), labels

    train_x, train_y = load("train")  # pre-decoded and normalised in RAM: not timed
    test_x, test_y = load("test")

    model = torchvision.models.resnet.ResNet(torchvision.models.resnet.BasicBlock, spec["depths"],
                                             num_classes=spec["classes"])
    state = read_safetensors(os.path.join(data_dir, "init.safetensors"))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"init.safetensors does not fit: missing {missing}, unexpected {unexpected}")

    groups = [{"params": [p for m in modules for p in m.parameters()], "lr": spec["lr"]}
              for _, modules in stages(model)]
    opt = torch.optim.SGD(groups, lr=spec["lr"], momentum=spec["momentum"])
    schedule = [{"head"}, {"head", "layer4"}, {"head", "layer4", "layer3"}]
    batch = spec["batch"]
    # The benchmark writes the order our trainer visits the examples in, so that both sides take the same steps.
    orders = torch.from_numpy(np.fromfile(os.path.join(data_dir, "order.i64"), dtype="<i8").astype(np.int64))
    orders = orders.view(spec["epochs"], len(train_y))

    start = time.perf_counter()
    epochs = []
    for epoch in range(spec["epochs"]):
        epoch_start = time.perf_counter()
        freeze(model, schedule[min(epoch, len(schedule) - 1)])
        order = orders[epoch]
        loss_sum = 0.0
        for i in range(0, len(order), batch):
            index = order[i:i + batch]
            loss = F.cross_entropy(model(train_x[index]), train_y[index])
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(index)
        epochs.append({"epoch": epoch, "loss": loss_sum / len(order), "seconds": time.perf_counter() - epoch_start})
    train_seconds = time.perf_counter() - start

    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(test_y), batch):
            correct += (model(test_x[i:i + batch]).argmax(1) == test_y[i:i + batch]).sum().item()
    result = {"train_seconds": train_seconds, "accuracy": correct / len(test_y), "epochs": epochs,
              "vmhwm_kb": vmhwm_kb(), "torch": torch.__version__, "threads": torch.get_num_threads()}
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(result, f)
    print(json.dumps(result))


def main(argv):
    if len(argv) == 3 and argv[0] == "export":
        export(argv[1], argv[2])
    elif len(argv) == 2 and argv[0] == "worker":
        Worker(argv[1]).run()
    elif len(argv) == 3 and argv[0] == "recipe":
        recipe(argv[1], argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
