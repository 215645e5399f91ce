#!/usr/bin/env bash
# MLflow and DVC together, end to end, in a fresh copy of this repository (your checkout is left
# untouched): the pipeline on the full table, a DVC experiment on an earlier extract of it (a
# second data version), DVC's views, the data versions with their MLflow runs, a reproduction,
# and a push to the default DVC remote.   Usage: scripts/pipeline-demo.sh [TARGET_FOLDER]
set -euo pipefail

target=${1:-build/pipeline-demo}
rm -rf "$target"
mkdir -p "$target"
git ls-files --cached --others --exclude-standard | while read -r file; do
    [[ -f $file ]] && printf '%s\n' "$file"
done | tar cf - -T - | tar xf - -C "$target"
cd "$target"
export MLFLOW_TRACKING_URI="sqlite:///$PWD/mlflow.db" DVC_NO_ANALYTICS=1 COLUMNS=${COLUMNS:-150}

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

git init -q
git config user.name "mlops-tracking demo"
git config user.email "demo@localhost"
git add -A && git commit -qm "The project, as cloned"

step dvc repro
git add -A && git commit -qm "Pipeline on the full table (569 rows)"
step dvc exp run --name first-extract --set-param data.rows=455
step dvc exp show --no-pager --keep 'Experiment|data.rows|mlflow_run_id|test_log_loss|test_accuracy' --drop '.*'
step dvc metrics show
step dvc dag
step mlops-tracking data versions
run_id=$(python -c 'import json; print(json.load(open("models/model.json"))["run_id"])')
step mlops-tracking reproduce "$run_id"
step dvc push

cat <<MESSAGE

The demo lives in $target. Look around:
  cd $target && dvc exp show             # the experiments, with their MLflow run ids
  cd $target && mlflow ui --backend-store-uri sqlite:///mlflow.db --port 5000
MESSAGE
