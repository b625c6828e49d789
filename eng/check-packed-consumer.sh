#!/usr/bin/env bash
# Proves that the libstdc++ workaround (eng/LibTorchSharpGlibcxxFix.targets) and the default weights (ML.NET's
# ResNet-18 from Microsoft.ML.DnnImageFeaturizer.ResNet18) reach package consumers: packs Microsoft.ML.Freezing into
# a temporary feed, then builds, runs, publishes and runs a throwaway console app outside the repo that only
# references the package, makes a TorchSharp call and loads the default weights. The published app loads them with
# an empty NUGET_PACKAGES and an unusable HOME, so they come from its own folder (and the converted weights go to
# the temporary-folder fallback of the weight cache).
# Exits non-zero unless both the bin/ and the publish/ copies of the app print the right results.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
feed=$work/feed
app=$work/app
# A unique prerelease version per run, so a stale Microsoft.ML.Freezing in the packages cache can't hide changes.
suffix=check$(date +%s)$$
packages=$(dotnet nuget locals global-packages --list | sed 's/^global-packages: *//')
version=

cleanup() {
    rm -rf "$work"
    if [ -n "$version" ]; then
        rm -rf "$packages/microsoft.ml.freezing/$version"
        rmdir "$packages/microsoft.ml.freezing" 2>/dev/null || true
    fi
}
trap cleanup EXIT

echo "== pack Microsoft.ML.Freezing (suffix $suffix)"
dotnet pack "$repo/src/Microsoft.ML.Freezing/Microsoft.ML.Freezing.csproj" -c Release -o "$feed" \
    --version-suffix "$suffix" -nologo -v quiet
nupkg=$(ls "$feed"/Microsoft.ML.Freezing.*-"$suffix".nupkg)
version=${nupkg##*/Microsoft.ML.Freezing.}
version=${version%.nupkg}

echo "== check the package contents ($version)"
nuspec=$(unzip -p "$nupkg" Microsoft.ML.Freezing.nuspec)
for dep in TorchSharp libtorch-cpu-linux-x64 Microsoft.ML.DnnImageFeaturizer.ResNet18; do
    grep -q "<dependency id=\"$dep\"" <<<"$nuspec" || { echo "FAIL: nuspec does not declare $dep" >&2; exit 1; }
done
listing=$(unzip -Z1 "$nupkg")
for f in buildTransitive/Microsoft.ML.Freezing.targets buildTransitive/MarkGlibcxxWeak.cs \
         buildTransitive/LibTorchSharpGlibcxxFix.targets buildTransitive/MLNetResNet18Model.targets \
         build/Microsoft.ML.Freezing.targets build/MarkGlibcxxWeak.cs; do
    grep -qx "$f" <<<"$listing" || { echo "FAIL: package lacks $f" >&2; exit 1; }
done
# The model comes from its own package, not as a 64 MB copy inside ours.
if grep -q '\.onnx$' <<<"$listing"; then echo "FAIL: package contains an ONNX file" >&2; exit 1; fi

echo "== throwaway consumer in $app"
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
    <NoWarn>\$(NoWarn);NU1603</NoWarn>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Microsoft.ML.Freezing" Version="$version" />
  </ItemGroup>
</Project>
EOF
cat >"$app/Program.cs" <<'EOF'
using Microsoft.ML.Freezing;
using TorchSharp;
if (args.Length > 0 && args[0] == "weights")
{
    // The trainer's and the featurizer's default weights, found with no path given.
    var weights = PretrainedWeights.MLNetResNet18();
    string onnx = System.IO.Path.GetRelativePath(System.AppContext.BaseDirectory, MLNetResNet18Importer.Resolve(null));
    System.Console.WriteLine($"onnx={onnx} depths={string.Join(",", weights.Definition.Depths)}");
    return;
}
System.Console.WriteLine("sum=" + torch.ones(2, 2).sum().item<float>());
EOF

expect() { # expect <label> <expected output> <command...>: runs the app, requires the expected output
    local label=$1 expected=$2 out
    shift 2
    if ! out=$("$@" 2>&1); then
        echo "$out" >&2
        echo "FAIL: $label exited non-zero" >&2
        exit 1
    fi
    echo "$label: $out"
    [ "$out" = "$expected" ] || { echo "FAIL: $label printed the wrong result" >&2; exit 1; }
}
sum="sum=4"
weights="onnx=DnnImageModels/ResNet18Onnx/ResNet18.onnx depths=2,2,2,3"

dotnet build "$app" -c Release -nologo -v minimal
expect "bin" "$sum" dotnet "$app/bin/Release/net10.0/Consumer.dll"
expect "bin weights" "$weights" dotnet "$app/bin/Release/net10.0/Consumer.dll" weights

dotnet publish "$app" -c Release -o "$app/publish" -nologo -v minimal
expect "publish" "$sum" dotnet "$app/publish/Consumer.dll"
# No NuGet cache to fall back on and a HOME that cannot hold a folder: the model must sit beside the app.
expect "publish weights, no NuGet cache or home" "$weights" \
    env -u XDG_CACHE_HOME -u FREEZING_HOME NUGET_PACKAGES= HOME=/dev/null dotnet "$app/publish/Consumer.dll" weights

echo "OK: a package consumer loads TorchSharp and the default weights from bin/ and from publish/"
