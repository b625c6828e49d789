#!/usr/bin/env bash
# The Model Builder path of a NuGet user, from the packed library: packs Microsoft.ML.Freezing into a temporary feed
# (the `dotnet pack` output is what is checked), checks the package's metadata and contents, then builds and
# publishes a throwaway console app outside the repository that references only that package, and:
#   1. bin/: loads the default weights (ML.NET's ResNet-18 from Microsoft.ML.DnnImageFeaturizer.ResNet18, copied
#      beside the app by the package's buildTransitive targets) and converts them with TorchSharp (the libstdc++
#      workaround of eng/LibTorchSharpGlibcxxFix.targets must have reached the app);
#   2. publish/, process 1: writes 60 small PNGs of two classes, trains the FrozenResNet trainer at its defaults
#      (Model Builder's ModelInput: image bytes and a label), saves model.zip and the scores of every image;
#   3. publish/, process 2: loads model.zip, predicts every image with a PredictionEngine (the same scores as
#      process 1), and exports ONNX (the graph's output and class names are checked).
# Both published runs have an empty NUGET_PACKAGES, an unusable HOME and a fresh TMPDIR, so nothing is found by
# accident: the model must sit beside the app, and the weights are converted anew into the temporary-folder fallback
# of the weight cache. Ends with one line "OK: ..." or "FAIL: ..."; exits non-zero on failure.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
feed=$work/feed
app=$work/app
# A unique prerelease version per run, so a stale Microsoft.ML.Freezing in the packages cache can't hide changes.
suffix=check$(date +%s)$$
packages=$(dotnet nuget locals global-packages --list | sed 's/^global-packages: *//')
version=
started=$SECONDS

cleanup() {
    rm -rf "$work"
    if [ -n "$version" ]; then
        rm -rf "$packages/microsoft.ml.freezing/$version"
        rmdir "$packages/microsoft.ml.freezing" 2>/dev/null || true
    fi
}
trap cleanup EXIT
fail() { echo "FAIL: packed consumer: $*" >&2; exit 1; }
step() { echo "== [$((SECONDS - started)) s] $*"; }

step "pack Microsoft.ML.Freezing (suffix $suffix)"
# Only the package's version carries the suffix (PackageVersion, not --version-suffix), so a library already built in
# Release (eng/test.sh builds it first) is packed without compiling it again.
project=$repo/src/Microsoft.ML.Freezing/Microsoft.ML.Freezing.csproj
dotnet pack "$project" -c Release -o "$feed" -nologo -v quiet -clp:NoSummary \
    -p:PackageVersion="$(dotnet msbuild "$project" -getProperty:VersionPrefix)-$suffix"
nupkg=$(ls "$feed"/Microsoft.ML.Freezing.*-"$suffix".nupkg)
version=${nupkg##*/Microsoft.ML.Freezing.}
version=${version%.nupkg}

step "check the package ($version, $(du -k "$nupkg" | cut -f1) KB)"
nuspec=$(unzip -p "$nupkg" Microsoft.ML.Freezing.nuspec)
for dep in Microsoft.ML Microsoft.ML.ImageAnalytics TorchSharp libtorch-cpu-linux-x64 OnnxSharp TorchSharp.PyBridge \
           Microsoft.ML.OnnxRuntime Microsoft.ML.DnnImageFeaturizer.ResNet18; do
    grep -q "<dependency id=\"$dep\"" <<<"$nuspec" || fail "the nuspec does not declare $dep"
done
for dep in Microsoft.CodeAnalysis.PublicApiAnalyzers Publicizer; do
    if grep -q "<dependency id=\"$dep\"" <<<"$nuspec"; then fail "the nuspec declares the build-only $dep"; fi
done
for element in '<license type="expression">MIT</license>' '<readme>README.md</readme>' 'Linux x64; CPU libtorch'; do
    grep -qF "$element" <<<"$nuspec" || fail "the nuspec lacks $element"
done
listing=$(unzip -Z1 "$nupkg")
for f in lib/net10.0/Microsoft.ML.Freezing.dll lib/net10.0/Microsoft.ML.Freezing.xml README.md LICENSE \
         buildTransitive/Microsoft.ML.Freezing.targets buildTransitive/MarkGlibcxxWeak.cs \
         buildTransitive/LibTorchSharpGlibcxxFix.targets buildTransitive/MLNetResNet18Model.targets \
         build/Microsoft.ML.Freezing.targets build/MarkGlibcxxWeak.cs; do
    grep -qx "$f" <<<"$listing" || fail "the package lacks $f"
done
# The model comes from its own package, not as a 64 MB copy inside ours.
if grep -q '\.onnx$' <<<"$listing"; then fail "the package contains an ONNX file"; fi
# A NuGet user has no repository: the package README points at no repository script or path.
if unzip -p "$nupkg" README.md | grep -nE 'eng/|\]\((\.|/|[a-z]+/)'; then
    fail "the package README points into the repository"
fi

step "throwaway consumer in $app"
mkdir -p "$app"
# The temporary feed is added next to the machine's configured sources (no <clear/>).
cat >"$app/NuGet.config" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="freezing-check" value="$feed" />
  </packageSources>
</configuration>
EOF
cat >"$app/Consumer.csproj" <<EOF
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>disable</Nullable>
    <NoWarn>\$(NoWarn);NU1603</NoWarn>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Microsoft.ML.Freezing" Version="$version" />
  </ItemGroup>
</Project>
EOF
cat >"$app/Program.cs" <<'EOF'
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML;
using Microsoft.ML.Freezing;
using SkiaSharp;

switch (args[0])
{
    case "weights":
        // The trainer's default weights, found with no path given.
        var weights = PretrainedWeights.MLNetResNet18();
        string onnx = Path.GetRelativePath(AppContext.BaseDirectory, MLNetResNet18Importer.Resolve(null));
        Console.WriteLine($"onnx={onnx} depths={string.Join(",", weights.Definition.Depths)}");
        return 0;
    case "train":
        return Consumer.Train(args[1], args[2]);
    case "predict":
        return Consumer.Predict(args[1], args[2]);
    default:
        return 2;
}

public sealed class ModelInput
{
    public byte[] ImageSource { get; set; }
    public string Label { get; set; }
}

public sealed class ModelOutput
{
    public string PredictedLabel { get; set; }
    public float[] Score { get; set; }
}

public static class Consumer
{
    private static readonly string[] Classes = { "horizontal", "vertical" };

    // train <work folder> <model.zip>: images, training at the defaults, the model and the scores of process 1.
    public static int Train(string folder, string modelPath)
    {
        string images = Path.Combine(folder, "images");
        WriteImages(images, perClass: 30);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Load(images).Select(r => r.Input));
        // Model Builder's image classification pipeline, with FrozenResNet at its defaults.
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label", "Label")
            .Append(ml.MulticlassClassification.Trainers.FrozenResNet(
                labelColumnName: "Label", featureColumnName: "ImageSource"))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel", "PredictedLabel"));
        var model = pipeline.Fit(data);
        double trained = clock.Elapsed.TotalSeconds;
        ml.Model.Save(model, data.Schema, modelPath);
        var frozen = ((IEnumerable<ITransformer>)model).OfType<FrozenResNetTransformer>().Single();
        var scores = ml.Data.CreateEnumerable<ModelOutput>(model.Transform(data), reuseRowObject: false).ToList();
        File.WriteAllLines(Path.Combine(folder, "scores.tsv"),
            scores.Select(s => string.Join("\t", s.Score.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))));
        var labels = Load(images).Select(r => r.Input.Label).ToList();
        double accuracy = scores.Where((s, i) => s.PredictedLabel == labels[i]).Count() / (double)labels.Count;
        Console.WriteLine($"trained in {trained:F1} s: {frozen.History.Count} epochs, {frozen.Model.Definition}, " +
            $"{frozen.Model.Preprocessing.ImageSize} px, training accuracy {accuracy:F2}, " +
            $"model.zip {new FileInfo(modelPath).Length / 1048576.0:F1} MB");
        return 0;
    }

    // predict <work folder> <model.zip>: a new process loads the model, predicts and exports ONNX.
    public static int Predict(string folder, string modelPath)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var ml = new MLContext();
        var model = ml.Model.Load(modelPath, out _);
        double loaded = clock.Elapsed.TotalSeconds;
        var engine = ml.Model.CreatePredictionEngine<ModelInput, ModelOutput>(model);
        var expected = File.ReadAllLines(Path.Combine(folder, "scores.tsv"))
            .Select(l => l.Split('\t').Select(v => float.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToList();
        var rows = Load(Path.Combine(folder, "images"));
        double worst = 0;
        int count = 0;
        for (int i = 0; i < rows.Count; i += 6) // 10 of the 60 images, 5 of each class: row by row is slow at 224 px
        {
            count++;
            var output = engine.Predict(new ModelInput { ImageSource = rows[i].Input.ImageSource });
            if (!Classes.Contains(output.PredictedLabel) || output.Score.Length != Classes.Length)
                throw new InvalidOperationException($"{rows[i].Path}: predicted '{output.PredictedLabel}'.");
            worst = Math.Max(worst, output.Score.Zip(expected[i], (a, b) => Math.Abs(a - b)).Max());
        }
        double predicted = clock.Elapsed.TotalSeconds;
        if (!(worst < 1e-4))
            throw new InvalidOperationException($"the loaded model's scores differ from training's by {worst}.");

        var frozen = ((IEnumerable<ITransformer>)model).OfType<FrozenResNetTransformer>().Single();
        string onnxPath = Path.Combine(folder, "model.onnx");
        frozen.ExportOnnx(onnxPath);
        using var stream = File.OpenRead(onnxPath);
        var graph = Onnx.ModelProto.Parser.ParseFrom(stream);
        string names = graph.MetadataProps.Single(p => p.Key == "class_names").Value;
        if (graph.Graph.Output.Single().Name != "Score" || !Classes.All(c => names.Contains($"\"{c}\"")))
            throw new InvalidOperationException($"ONNX graph: output {graph.Graph.Output[0].Name}, {names}.");
        Console.WriteLine($"loaded in {loaded:F1} s; {count} predictions in {predicted - loaded:F1} s, as in " +
            $"training (max score difference {worst:G2}); model.onnx {stream.Length / 1048576.0:F1} MB in " +
            $"{clock.Elapsed.TotalSeconds - predicted:F1} s, output Score, class_names {names}");
        return 0;
    }

    private static List<(string Path, ModelInput Input)> Load(string images)
        => Directory.GetDirectories(images).OrderBy(d => d, StringComparer.Ordinal)
            .SelectMany(d => Directory.GetFiles(d, "*.png").OrderBy(f => f, StringComparer.Ordinal)
                .Select(f => (f, new ModelInput { ImageSource = File.ReadAllBytes(f), Label = Path.GetFileName(d) })))
            .ToList();

    // Stripes of random colours and widths, 32x32: horizontal ones in one class, vertical ones in the other.
    private static void WriteImages(string images, int perClass)
    {
        var random = new Random(7);
        foreach (string label in Classes)
        {
            Directory.CreateDirectory(Path.Combine(images, label));
            for (int n = 0; n < perClass; n++)
            {
                using var bitmap = new SKBitmap(32, 32);
                int width = random.Next(2, 6);
                var a = new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
                var b = new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
                for (int y = 0; y < 32; y++)
                    for (int x = 0; x < 32; x++)
                        bitmap.SetPixel(x, y, ((label == "horizontal" ? y : x) / width) % 2 == 0 ? a : b);
                using var png = bitmap.Encode(SKEncodedImageFormat.Png, 100);
                File.WriteAllBytes(Path.Combine(images, label, $"{n:D2}.png"), png.ToArray());
            }
        }
    }
}
EOF

expect() { # expect <label> <expected output> <command...>: runs the app, requires the expected output
    local label=$1 expected=$2 out
    shift 2
    if ! out=$("$@" 2>&1); then
        echo "$out" >&2
        fail "$label exited non-zero"
    fi
    echo "$label: $out"
    [ "$out" = "$expected" ] || fail "$label printed the wrong result"
}
run() { # run <label> <command...>: runs the app, requires exit code 0, shows its last lines
    local label=$1 out
    shift
    if ! out=$("$@" 2>&1); then
        echo "$out" >&2
        fail "$label exited non-zero"
    fi
    echo "$out" | tail -n 3 | sed "s/^/$label: /"
}

# One publish builds bin/ (with the build-time targets) and then publish/ (with the publish-time ones).
step "build and publish"
dotnet publish "$app" -c Release -o "$app/publish" -nologo -v quiet -clp:NoSummary
expect "bin weights" "onnx=DnnImageModels/ResNet18Onnx/ResNet18.onnx depths=2,2,2,3" \
    dotnet "$app/bin/Release/net10.0/Consumer.dll" weights
[ -f "$app/publish/DnnImageModels/ResNet18Onnx/ResNet18.onnx" ] || fail "publish/ lacks the default weights"
# No NuGet cache to fall back on, a HOME that cannot hold a folder and an empty temporary folder: the model must sit
# beside the app, and the weights are converted anew.
mkdir -p "$work/tmp" "$work/run"
isolated=(env -u XDG_CACHE_HOME -u FREEZING_HOME NUGET_PACKAGES= HOME=/dev/null TMPDIR="$work/tmp")

step "train at the defaults, save (published app, process 1)"
run "train" "${isolated[@]}" dotnet "$app/publish/Consumer.dll" train "$work/run" "$work/run/model.zip"
[ -n "$(ls "$work/tmp"/Microsoft.ML.Freezing-*/weights/*.weights 2>/dev/null)" ] ||
    fail "the weights were not converted into the temporary-folder fallback"

step "load, predict, export ONNX (published app, process 2)"
run "predict" "${isolated[@]}" dotnet "$app/publish/Consumer.dll" predict "$work/run" "$work/run/model.zip"

echo "OK: packed consumer: the package ($version) trains at the defaults, saves, loads in a new process," \
    "predicts and exports ONNX from bin/ and publish/ ($((SECONDS - started)) s)"
