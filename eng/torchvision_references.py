#!/usr/bin/python3
"""Writes torchvision ResNet state_dict files and PyTorch reference outputs for the PyTorch import parity test.

Usage: /usr/bin/python3 eng/torchvision_references.py OUT_DIR          (generate; skips when up to date)
       /usr/bin/python3 eng/torchvision_references.py --check OUT_DIR  (exit 0 when up to date; needs no torch)

Called by eng/torchvision-references.sh, which installs Debian's python3-torch and python3-torchvision first.
Nothing is downloaded: the weights are random but seeded (torchvision's pretrained weights cannot be fetched here),
with random BatchNorm affine parameters and running statistics gathered from train-mode passes on random input, so
that a wrong mapping of any tensor shows up in the outputs.

Writes into OUT_DIR (all raw arrays are little-endian float32, row-major):
  resnet18.pth, resnet50.pth        torch.save(model.state_dict()) (the zip format, torchvision key names)
  resnet18.safetensors              the same resnet18 state dict as safetensors (written by a tiny writer below)
  input.f32                         the input batch, already normalised, [N, 3, 224, 224]
  <model>.logits.f32                eval-mode logits, [N, 1000]
  <model>.features.f32              eval-mode pooled features (the input of fc), [N, 512] or [N, 2048]
  manifest.json                     version, torch/torchvision versions, the shape of every raw file; written last
"""
import json
import os
import struct
import sys

# Bump when the outputs change; a manifest with another version is regenerated.
VERSION = 1
MODELS = {"resnet18": 18, "resnet50": 50}  # name -> seed
SAFETENSORS = ["resnet18"]
BATCH = 2
IMAGE_SIZE = 224


def expected_files():
    files = ["input.f32", "manifest.json"]
    for name in MODELS:
        files += [f"{name}.pth", f"{name}.logits.f32", f"{name}.features.f32"]
    files += [f"{name}.safetensors" for name in SAFETENSORS]
    return files


def up_to_date(out):
    try:
        with open(os.path.join(out, "manifest.json"), encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return False
    return manifest.get("version") == VERSION and all(os.path.isfile(os.path.join(out, n)) for n in expected_files())


def write_raw(out, name, tensor, shapes):
    """A tensor as raw little-endian float32; records its shape for the manifest."""
    array = tensor.detach().to("cpu").contiguous().numpy().astype("<f4")
    array.tofile(os.path.join(out, name))
    shapes[name] = list(array.shape)


def save_safetensors(state_dict, path):
    """The safetensors format: u64 little-endian header length, a JSON header (dtype, shape, data_offsets per tensor,
    padded with spaces to 8 bytes), then the tensors' bytes back to back."""
    dtypes = {"torch.float32": "F32", "torch.float64": "F64", "torch.float16": "F16", "torch.int64": "I64",
              "torch.int32": "I32", "torch.uint8": "U8", "torch.bool": "BOOL"}
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    offset = 0
    for key in sorted(state_dict):
        tensor = state_dict[key].detach().to("cpu").contiguous()
        array = tensor.numpy()
        array = array.astype(array.dtype.newbyteorder("<"))
        data = array.tobytes()
        header[key] = {"dtype": dtypes[str(tensor.dtype)], "shape": list(tensor.shape),
                       "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)


def make_model(name, seed):
    import torch
    import torchvision

    torch.manual_seed(seed)
    model = getattr(torchvision.models, name)(weights=None)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.1)
                module.reset_running_stats()
                module.momentum = None  # cumulative average over the passes below
        # Running statistics from a few train-mode passes on random input (no parameter is updated).
        model.train()
        for _ in range(3):
            model(torch.randn(4, 3, 96, 96))
    model.eval()
    return model


def generate(out):
    import torch
    import torchvision

    torch.set_num_threads(2)
    os.makedirs(out, exist_ok=True)
    shapes = {}
    torch.manual_seed(1234)
    x = torch.randn(BATCH, 3, IMAGE_SIZE, IMAGE_SIZE)
    write_raw(out, "input.f32", x, shapes)
    for name, seed in MODELS.items():
        model = make_model(name, seed)
        pooled = {}
        hook = model.avgpool.register_forward_hook(lambda m, i, o: pooled.__setitem__("features", torch.flatten(o, 1)))
        with torch.no_grad():
            logits = model(x)
        hook.remove()
        state_dict = model.state_dict()
        temp = os.path.join(out, f".{name}.pth.tmp")
        torch.save(state_dict, temp)
        os.replace(temp, os.path.join(out, f"{name}.pth"))
        if name in SAFETENSORS:
            temp = os.path.join(out, f".{name}.safetensors.tmp")
            save_safetensors(state_dict, temp)
            os.replace(temp, os.path.join(out, f"{name}.safetensors"))
        write_raw(out, f"{name}.logits.f32", logits, shapes)
        write_raw(out, f"{name}.features.f32", pooled["features"], shapes)
        print(f"{name}: {len(state_dict)} tensors, logits std {logits.std().item():.3f}")
    manifest = {"version": VERSION, "torch": torch.__version__, "torchvision": torchvision.__version__,
                "dtype": "float32", "byte_order": "little", "shapes": shapes}
    temp = os.path.join(out, ".manifest.json.tmp")
    with open(temp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
    os.replace(temp, os.path.join(out, "manifest.json"))


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = args[0]
    if up_to_date(out):
        print(f"torchvision references in {out} are up to date (version {VERSION}).")
        return 0
    if check:
        return 1
    # Remove a stale manifest first, so an interrupted run is never taken for a finished one.
    if os.path.exists(os.path.join(out, "manifest.json")):
        os.remove(os.path.join(out, "manifest.json"))
    generate(out)
    print(f"Wrote torchvision references (version {VERSION}) to {out}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
