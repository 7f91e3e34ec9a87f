#!/usr/bin/env bash
# Install the model that gpu_run.sh brought back into public/models/ and make it the default.
#     train/gpu_unpack.sh <folder with msn-code-small.tar.part-*> [name]
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=${1:?folder with the .tar.part-* files}
NAME=${2:-msn-code-small}
cat "$SRC/$NAME.tar.part-"* | tar -x -C public/models
.venv/bin/python - "$NAME" <<'PY'
import sys
sys.path.insert(0, "train")
from pathlib import Path
from export import update_index, write_manifest
name = sys.argv[1]
write_manifest(Path("public/models", name))  # unchanged files give the same manifest
update_index(Path("public/models"), name, "about 15M-parameter Llama Python code model, MSN fine-tuned on one H200", True)
print(f"public/models/{name} installed as the default")
PY
