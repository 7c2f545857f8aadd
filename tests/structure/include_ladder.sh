#!/usr/bin/env bash
# The ladder (CONTRIBUTING.md): each folder of src/ includes only the folders below it, so a
# backend never knows a model, and a model knows only the backend interface. Fails listing every
# include that climbs. Usage: include_ladder.sh SOURCE_DIR
set -euo pipefail
cd "${1:-$(dirname "$0")/../..}"

# folder -> the project folders its files may include (besides itself).
declare -A allowed=(
  [core]=""
  [format]="core"
  [kv]="core"
  [parallel]="core format kv"
  [backends]="core format kv parallel"
  [tokenizer]="core format"
  [chat]="core format tokenizer"
  [models]="core format kv parallel backends-interface tokenizer"
  [compress]="core format kv parallel backends models"
  [train]="core format kv parallel backends models tokenizer compress"
  [runtime]="core format kv parallel backends-interface models tokenizer chat compress"
  [server]=""
)

violations=0
for folder in "${!allowed[@]}"; do
  [[ -d src/$folder ]] || continue
  while IFS= read -r line; do
    file=${line%%:*}
    target=$(sed -E 's/.*#include +"([^"]+)".*/\1/' <<<"${line#*:}")
    top=${target%%/*}
    [[ $target == */* ]] || continue          # a sibling header ("x.h")
    [[ $top == "$folder" ]] && continue
    ok=0
    for permitted in ${allowed[$folder]}; do
      if [[ $permitted == backends-interface ]]; then
        # Only the interface level of src/backends (backend.h, its shape, the factory, RoPE),
        # never a backend's own folder.
        [[ $target =~ ^backends/[^/]+\.h$ ]] && ok=1
      elif [[ $top == "$permitted" ]]; then
        ok=1
      fi
    done
    if ((!ok)); then
      echo "ladder: $file includes \"$target\" ($folder may include: ${allowed[$folder]:-nothing else})"
      violations=$((violations + 1))
    fi
  done < <(grep -rnE '^#include +"[^"]+"' "src/$folder" --include='*.h' --include='*.cpp' --include='*.cu' | cut -d: -f1,3-)
done
# The server sees only the public API (include/jisu) and its own files.
if grep -rnE '^#include +"' src/server | grep -vE '#include +"server/' ; then
  echo "ladder: src/server includes more than include/jisu and src/server"
  violations=$((violations + 1))
fi
if ((violations)); then
  echo "$violations include(s) climb the ladder"
  exit 1
fi
echo "include ladder: every include of src/ points down"
