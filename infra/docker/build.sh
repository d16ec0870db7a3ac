#!/usr/bin/env bash
# Build the medfuse image from the repository root and push it to the registry the cluster pulls from.
#
#   bash infra/docker/build.sh [--push] [--cpu] [--dry-run]
#
# Image: $REGISTRY/medfuse:$TAG, by default ghcr.io/medfuse/medfuse:<version in pyproject.toml>, the name every
# manifest uses (infra/k8s/*.yaml, infra/ray/cluster.yaml; tests/infra/test_manifests.py keeps them equal).
# Another registry: REGISTRY=registry.example.org/team bash infra/docker/build.sh --push (and change the
# manifests' image, or use a kustomize `images:` override).  Log in first (`docker login ghcr.io`).
# --cpu builds on rayproject/ray:<ray>-py311-cpu (no CUDA) and tags <version>-cpu.  --dry-run prints the
# commands instead of running them.  Needs a Docker engine (CI runners, a workstation).
set -euo pipefail
cd "$(dirname "$0")/../.."

push=0; cpu=0; dry=0
for arg in "$@"; do
  case "$arg" in
    --push) push=1 ;;
    --cpu) cpu=1 ;;
    --dry-run) dry=1 ;;
    *) echo "build.sh: error: unknown argument '$arg' (use --push, --cpu, --dry-run)" >&2; exit 2 ;;
  esac
done

version=$(sed -n 's/^version = "\([^"]*\)"/\1/p' pyproject.toml | head -n1)
ray=$(sed -n 's/.*"ray\[[^]]*\]==\([0-9.]*\)".*/\1/p' pyproject.toml | head -n1)
if [ -z "$version" ] || [ -z "$ray" ]; then
  echo "build.sh: error: pyproject.toml: could not read the project version or the ray pin" >&2; exit 2
fi
registry=${REGISTRY:-ghcr.io/medfuse}
tag=${TAG:-$version}
flavour=gpu
if [ "$cpu" = 1 ]; then flavour=cpu; tag="$tag-cpu"; fi
image="$registry/medfuse:$tag"

run() { if [ "$dry" = 1 ]; then echo "$*"; else "$@"; fi; }
run docker build -f infra/docker/Dockerfile --build-arg "RAY_IMAGE=rayproject/ray:$ray-py311-$flavour" \
    -t "$image" .
if [ "$push" = 1 ]; then run docker push "$image"; fi
