#!/usr/bin/env bash
# TAP test of the Slurm scripts in jobs/, submitted for real to a one-node
# Slurm (slurm-local: munge, slurmctld, slurmd) started under the test's
# temporary directory on free ports and stopped at the end, also on failure.
# Every output is compared with the same work run without Slurm:
# - jobs/submit-spingen, run from another directory, 3 array tasks then the
#   dependent merge (default launcher srun --mpi=pmix): the merged file =
#   one `eloss spingen` run, dataset for dataset; the parts are removed;
# - the same with LAUNCH=mpirun and 2 tasks;
# - jobs/train.sbatch: the model file = `eloss train` run directly, byte for byte;
# - jobs/clustergen.sbatch stopped by `scancel --batch --signal=TERM`
#   mid-run: the ranks checkpoint (exit 3), the job resubmits itself
#   (ON_STOP=resubmit: Slurm holds a requeued job ~2 min here), the new job
#   resumes, and the file = an uninterrupted `eloss clustergen`;
# - jobs/submit-table5 (data, array of the learning-rate search, array of
#   trainings, report, afterok): the
#   table's numbers (csv without the timings, and table5.md) = jobs/table5
#   run locally with the same tiny settings;
# - with ELOSS_SLURM_REQUEUE=1 (jobs/local test-slurm) also
#   jobs/submit-repro fig4 (data, an array of 2 runs, report): fig4.csv
#   without the timings and fig4.md = jobs/fig4 run locally with the same
#   tiny settings (molecules written by the test);
# - with ELOSS_SLURM_REQUEUE=1 (jobs/local test-slurm): a spingen array task
#   stopped the same way is requeued (the default ON_STOP, ~2 min here) and
#   the merge waits for it; the merged file = one run.
# Three checks need no Slurm and always run: jobs/submit-spingen without a
# deck (and with one) against a stand-in sbatch that records what it would
# submit; jobs/submit-repro fig4 against it (an array of one task per run
# of `jobs/fig4 runs`, bad settings refused before anything is submitted);
# and jobs/spingen.sbatch with DECK=none run outside Slurm = one
# `eloss spingen` run. The others are skipped, with the reason, when Slurm
# cannot start here.
#   test_slurm.sh <eloss> <mpiexec> <repo>
set -uo pipefail
eloss=$(realpath "$1")
mpi=("$2" --allow-run-as-root --oversubscribe)
repo=$(realpath "$3")
py=/usr/bin/python3
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
nreq=0
[ "${ELOSS_SLURM_REQUEUE:-0}" = 1 ] && nreq=5
nslurm=$((14 + nreq))
echo "1..$((3 + nslurm))"
work=$(mktemp -d) || exit 1
chmod 755 "$work"
trap 'cd /; rm -rf "$work"' EXIT

# same A B: exit 0 iff A and B hold the same datasets (in order) and root attributes.
same() { "$py" "$tap_h5same" "$1" "$2" --attributes all; }

# Without Slurm: submit-spingen against a stand-in sbatch, which records its
# arguments and the settings the batch scripts would get, and prints a job id.
mkdir -p "$work/bin" "$work/noslurm"
cat > "$work/bin/sbatch" <<'SH'
#!/usr/bin/env bash
n=$(($(cat "$SBATCH_LOG.n" 2> /dev/null || echo 0) + 1))
echo $n > "$SBATCH_LOG.n"
printf 'args=%s\nDECK=%s\nEXTRA=%s\nINSTANCES=%s\nTASKS=%s\nJOB=%s\nSTAGE=%s\n' "$*" "${DECK-unset}" "${EXTRA-}" \
  "${INSTANCES-}" "${TASKS-}" "${JOB-}" "${STAGE-}" > "$SBATCH_LOG.$n"
echo "10$n"
SH
chmod +x "$work/bin/sbatch"
cd "$work/noslurm" || exit 1
PATH=$work/bin:$PATH SBATCH_LOG=$PWD/nodeck ELOSS=$eloss "$repo/jobs/submit-spingen" -split train -seed 7 \
  -out nodeck.h5 -tasks 3 -L 6 -instances 30 > nodeck.out 2> nodeck.err
rc1=$?
PATH=$work/bin:$PATH SBATCH_LOG=$PWD/deck ELOSS=$eloss "$repo/jobs/submit-spingen" -options_file "$repo/inputs/spin16.opts" \
  -split train -seed 7 -out deck.h5 -tasks 2 -L 6 -instances 30 > deck.out 2> deck.err
rc2=$?
[ $rc1 = 0 ] && [ "$(cat nodeck.out)" = "$(printf 'array_job=101\nmerge_job=102')" ] && [ -e nodeck.h5.submitted ] &&
  grep -q -- '--array=0-2 .*/jobs/spingen.sbatch$' nodeck.1 && grep -q '^DECK=none$' nodeck.1 &&
  grep -q '^EXTRA=-L 6 -instances 30$' nodeck.1 && grep -q '^INSTANCES=30$' nodeck.1 && grep -q '^TASKS=3$' nodeck.1 &&
  grep -q -- '--dependency=afterok:101 .*/jobs/spingen-merge.sbatch$' nodeck.2 &&
  [ $rc2 = 0 ] && grep -q "^DECK=$repo/inputs/spin16.opts$" deck.1 && grep -q '^INSTANCES=30$' deck.1
ok $? "submit-spingen without a deck (options on the command line; the jobs get DECK=none) and with one, against a stand-in sbatch (exits $rc1 $rc2) $(cat nodeck.err deck.err | head -n 1)"
# submit-repro fig4 against the stand-in: the data job, an array of one
# task per line of `jobs/fig4 runs` (2 networks x 2 losses x 3 fractions x
# 2 seeds = 24) after it, the report after the array; a bad fraction is
# refused before anything is submitted.
PATH=$work/bin:$PATH SBATCH_LOG=$PWD/f4 ELOSS=$eloss NETWORKS="gdm_aug edm" LOSSES="mse energy" \
  FRACTIONS="0.1 0.5 1" SEEDS="1 2" "$repo/jobs/submit-repro" fig4 > f4.out 2> f4.err
rc1=$?
PATH=$work/bin:$PATH SBATCH_LOG=$PWD/f4bad ELOSS=$eloss FRACTIONS="0.1 1.0" "$repo/jobs/submit-repro" fig4 \
  > f4bad.out 2> f4bad.err
rc2=$?
[ $rc1 = 0 ] && [ "$(cat f4.out)" = "$(printf 'data_job=101\ntrain_job=102\nreport_job=103')" ] &&
  grep -q '^JOB=fig4$' f4.1 && grep -q '^STAGE=data$' f4.1 && grep -q -- '--job-name=eloss-fig4 ' f4.1 &&
  grep -q -- '--dependency=afterok:101 .*--array=0-23 .*/jobs/repro.sbatch$' f4.2 && grep -q '^STAGE=train$' f4.2 &&
  grep -q -- '--dependency=afterok:102 .*/jobs/repro.sbatch$' f4.3 && grep -q '^STAGE=report$' f4.3 &&
  [ $rc2 = 2 ] && grep -q "fig4: FRACTIONS: '1.0' is not a fraction" f4bad.err && [ ! -e f4bad.n ] && [ ! -s f4bad.out ]
ok $? "submit-repro fig4 against a stand-in sbatch: data, an array of 24 runs, report (exits $rc1 $rc2; a bad fraction submits nothing)"
# spingen.sbatch outside Slurm (no SLURM_* settings, LAUNCH=mpiexec) with
# DECK=none: the file of one eloss spingen run with the same options.
env -u SLURM_SUBMIT_DIR DECK=none EXTRA="-L 6 -instances 30" SPLIT=train SEED=7 OUT=sb.h5 JOBS_DIR="$repo/jobs" \
  ELOSS="$eloss" LAUNCH="$2 -n 1" bash "$repo/jobs/spingen.sbatch" > sb.out 2>&1
rc=$?
"$eloss" spingen -split train -seed 7 -L 6 -instances 30 -out direct.h5 > /dev/null 2>&1
[ $rc = 0 ] && same direct.h5 sb.h5
ok $? "spingen.sbatch with DECK=none (the options in EXTRA), outside Slurm: exit $rc, the file = eloss spingen run directly"
cd "$work" || exit 1

# skip <reason>: the checks that need Slurm, each skipped.
skip() {
  local i
  for ((i = 0; i < nslurm; i++)); do ok 0 "# SKIP $*"; done
  tap_exit
  exit $?
}
slurm_local=${ELOSS_SLURM_LOCAL:-$(command -v slurm-local || echo /work/shared/tools/slurm-local)}
[ -x "$slurm_local" ] || skip "no slurm-local (set ELOSS_SLURM_LOCAL to the tool)"
[ "$(id -u)" = 0 ] || skip "slurm-local needs root"
command -v sbatch > /dev/null && command -v slurmctld > /dev/null && command -v munged > /dev/null \
  || skip "Slurm is not installed (Debian: slurm-wlm munge; jobs/local test installs them)"

export SLURM_LOCAL_DIR=$work/slurm SLURM_LOCAL_WAIT_MAX=300
# Two free ports, away from Slurm's defaults and other engineers' clusters.
free_port() {
  local p
  for _ in $(seq 50); do
    p=$(( 20000 + RANDOM % 20000 ))
    ss -ltn 2> /dev/null | grep -q ":$p\b" || { echo $p; return; }
  done
  echo 0
}
export SLURM_LOCAL_PORTS="$(free_port) $(free_port)"
trap '"$slurm_local" stop > /dev/null 2>&1; cd /; rm -rf "$work"' EXIT
if ! "$slurm_local" start > "$work/start.out" 2> "$work/start.err"; then
  skip "slurm-local did not start: $(tail -n 1 "$work/start.err")"
fi
eval "$(grep '^export SLURM_CONF=' "$work/start.out")"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd "$work" && mkdir elsewhere && cd elsewhere || exit 1
export ELOSS=$eloss

# wait_job ID: exit 0 iff the job (every array task) COMPLETED.
wait_job() { "$slurm_local" wait "$@" > /dev/null; }

deck=$repo/inputs/spin16.opts
opts=(-L 8 -instances 45 -checkpoint_seconds 1)
"${mpi[@]}" -n 2 "$eloss" spingen -options_file "$deck" -split train -seed 7 "${opts[@]}" -out single.h5 > /dev/null 2>&1
"$repo/jobs/submit-spingen" -options_file "$(realpath --relative-to="$PWD" "$deck")" -split train -seed 7 \
  -out merged.h5 -tasks 3 "${opts[@]}" > submit.out 2> submit.err
merge=$(sed -n 's/^merge_job=//p' submit.out)
[ -n "$merge" ] && wait_job "$merge"
ok $? "submit-spingen from another directory: 3 array tasks and the afterok merge complete ($(tr '\n' ' ' < submit.out))"
same single.h5 merged.h5
ok $? "srun --mpi=pmix: the merged file = one eloss spingen run (every dataset and root attribute)"
[ ! -e merged.h5.part0 ] && [ ! -e merged.h5.part2 ] && [ ! -e merged.h5.submitted ] &&
  grep -q 'first=30 instances=15' eloss-spingen-*.log
ok $? "the parts held [0,15), [15,30), [30,45) and were removed after the merge, with the submission's marker"
"$repo/jobs/submit-spingen" -options_file "$deck" -split train -seed 7 -out bad.h5 -tasks 2 "${opts[@]}" -bogus 3 \
  > bad.out 2> bad.err
[ $? = 2 ] && grep -q "unknown or unused option -bogus" bad.err && [ ! -s bad.out ] && [ ! -e bad.h5.submitted ]
ok $? "an unknown spingen option is refused at submission, nothing submitted: $(cat bad.err)"

LAUNCH=mpirun "$repo/jobs/submit-spingen" -options_file "$deck" -split train -seed 7 -out merged_mpirun.h5 -tasks 2 \
  "${opts[@]}" > submit2.out 2> submit2.err
merge=$(sed -n 's/^merge_job=//p' submit2.out)
"$repo/jobs/submit-spingen" -options_file "$deck" -split train -seed 7 -out merged_mpirun.h5 -tasks 2 "${opts[@]}" \
  > again.out 2> again.err
[ $? = 2 ] && grep -q "a submission for .*merged_mpirun.h5 is pending" again.err && [ ! -s again.out ]
ok $? "a second submission for the same -out while the first is pending is refused"
[ -n "$merge" ] && wait_job "$merge" && same single.h5 merged_mpirun.h5
ok $? "LAUNCH=mpirun: 2 array tasks and the merge = the same single run"

# Training: one eloss train job against the same run without Slurm.
"${mpi[@]}" -n 2 "$eloss" spingen -L 6 -instances 48 -seed 3 -split train -out tr.h5 > /dev/null 2>&1
"${mpi[@]}" -n 2 "$eloss" spingen -L 6 -instances 12 -seed 3 -split test -out te.h5 > /dev/null 2>&1
targs=(-steps 24 -eval_every 12 -width 8 -depth 2 -batch 16)
"${mpi[@]}" -n 2 "$eloss" train -options_file "$repo/inputs/table5.opts" -train tr.h5 -test te.h5 -loss local -seed 2 \
  "${targs[@]}" -out direct.ckpt > /dev/null 2>&1
id=$(TRAIN=tr.h5 TEST=te.h5 LOSS=local SEED=2 OUT=slurm.ckpt DECK=$repo/inputs/table5.opts JOBS_DIR=$repo/jobs \
     EXTRA="${targs[*]}" sbatch --parsable "$repo/jobs/train.sbatch")
wait_job "$id" && cmp -s direct.ckpt slurm.ckpt
ok $? "train.sbatch (srun --mpi=pmix, 2 ranks): the model file = eloss train without Slurm, byte for byte"

# Preemption: clustergen stopped mid-run through the batch shell.
cargs="-n 38 -seed 2 -samples 400 -therm 100 -sweeps 400 -walks 2 -bh_steps 100 -checkpoint_seconds 1"
# shellcheck disable=SC2086
"${mpi[@]}" -n 2 "$eloss" clustergen $cargs -out lj_direct.h5 > /dev/null 2>&1
id=$(ARGS="$cargs" OUT=lj.h5 JOBS_DIR=$repo/jobs ON_STOP=resubmit sbatch --parsable "$repo/jobs/clustergen.sbatch")
log=eloss-clustergen-$id.log
for _ in $(seq 600); do tr '\r' '\n' < "$log" 2> /dev/null | grep -q 'clustergen cycles: [1-9]' && break; sleep 0.1; done
scancel --batch --signal=TERM "$id"
"$slurm_local" wait "$id" > /dev/null
new=
for _ in $(seq 100); do new=$(sed -n 's/.*resubmitted as job \([0-9]*\).*/\1/p' "$log"); [ -n "$new" ] && break; sleep 0.1; done
grep -q 'stopped after\|checkpoint' "$log" && [ -n "$new" ]
ok $? "scancel --batch --signal=TERM: the ranks checkpoint and exit 3, the job resubmits itself (job ${new:-none})"
[ -n "$new" ] && wait_job "$new" && grep -q 'restart 0, -resume' "eloss-clustergen-$new.log"
ok $? "the resubmitted job resumes from the checkpoint and completes"
same lj_direct.h5 lj.h5 && [ ! -e lj.h5.ckpt ]
ok $? "stopped and resumed under Slurm = an uninterrupted eloss clustergen (every dataset and attribute)"

# Table 5: the chain against jobs/table5 run locally, tiny settings.
t5=(LATTICES=6 WIDTHS=8 SIZES=64 TUNE_SIZE=64 "LRS=1e-3 3e-3" TEST=16 VALID=16 SEEDS=1 "LOSSES=ce local"
    "EXTRA=-steps 20 -eval_every 10 -depth 2")
env "${t5[@]}" ELOSS="$eloss" OUT_DIR="$work/t5_local" NP=2 "$repo/jobs/table5" > t5_local.out 2>&1 &&
  grep -q '^| cross-entropy | [0-9.]* | ' "$work/t5_local/table5.md" && ! grep -q nan "$work/t5_local/table5.md"
ok $? "jobs/table5 runs locally with the tiny settings (one seed: means without a ± nan)"
env "${t5[@]}" OUT_DIR="$work/t5_slurm" "$repo/jobs/submit-table5" > t5.out 2> t5.err
report=$(sed -n 's/^report_job=//p' t5.out)
[ -n "$report" ] && wait_job "$(sed -n 's/^data_job=//p' t5.out)" "$(sed -n 's/^tune_job=//p' t5.out)" \
  "$(sed -n 's/^train_job=//p' t5.out)" "$report"
ok $? "submit-table5: data, the search's array of 4, the array of 2 trainings and the report complete ($(tr '\n' ' ' < t5.out))"
cut -d, -f1-14 "$work/t5_local/table5.csv" > a.csv
cut -d, -f1-14 "$work/t5_slurm/table5.csv" > b.csv
[ "$(wc -l < a.csv)" = 3 ] && cmp -s a.csv b.csv && cmp -s "$work/t5_local/table5_lr.csv" "$work/t5_slurm/table5_lr.csv"
ok $? "the table's numbers (rates chosen, gaps, exact fractions, site accuracies, steps) and the search = the local run's"
cmp -s "$work/t5_local/table5.md" "$work/t5_slurm/table5.md" && [ -s "$work/t5_slurm/table5.png" ]
ok $? "table5.md identical, table5.png written"

if [ "$nreq" != 0 ]; then
  # Fig. 4: the chain against jobs/fig4 run locally, tiny settings on
  # molecules written here (random H, C, N, O, F; no RDKit needed to make them).
  mkdir "$work/f4data"
  "$py" - "$work/f4data" << 'PY'
import sys
import numpy as np
rng = np.random.default_rng(29)
for name, count in (("train", 48), ("valid", 8)):
    with open("%s/%s.xyz" % (sys.argv[1], name), "w") as f:
        for k in range(count):
            n = int(rng.integers(7, 12))
            f.write("%d\nmolecule %d\n" % (n, k))
            for x in rng.normal(scale=1.3, size=(n, 3)):
                f.write("%s %.6f %.6f %.6f\n" % ("HCNOF"[rng.integers(5)], *x))
PY
  f4=(DATA="$work/f4data" NETWORKS=gdm_aug "LOSSES=mse energy" FRACTIONS=0.5 SEEDS=3 SAMPLES=6
      "EXTRA=-width 8 -layers 1 -diffusion_steps 10 -batch 8 -steps 6")
  env "${f4[@]}" ELOSS="$eloss" OUT_DIR="$work/f4_local" NP=2 "$repo/jobs/fig4" > f4_local.out 2>&1
  ok $? "jobs/fig4 runs locally with the tiny settings"
  env "${f4[@]}" OUT_DIR="$work/f4_slurm" "$repo/jobs/submit-repro" fig4 > f4.out 2> f4.err
  report=$(sed -n 's/^report_job=//p' f4.out)
  [ -n "$report" ] && wait_job "$(sed -n 's/^data_job=//p' f4.out)" "$(sed -n 's/^train_job=//p' f4.out)" "$report"
  ok $? "submit-repro fig4: data, the array of 2 runs and the report complete ($(tr '\n' ' ' < f4.out))"
  cut -d, -f1-15 "$work/f4_local/fig4.csv" > a.csv
  cut -d, -f1-15 "$work/f4_slurm/fig4.csv" > b.csv
  [ "$(wc -l < a.csv)" = 3 ] && cmp -s a.csv b.csv && cmp -s "$work/f4_local/fig4.md" "$work/f4_slurm/fig4.md" &&
    [ -s "$work/f4_slurm/fig4.png" ]
  ok $? "fig4.csv (without the timings) and fig4.md = the local run's, fig4.png written"

  # Requeue: the default ON_STOP, which keeps the merge's dependency.
  "${mpi[@]}" -n 2 "$eloss" spingen -L 16 -instances 600 -seed 4 -split test -chunk 2 -out rq_single.h5 > /dev/null 2>&1
  "$repo/jobs/submit-spingen" -options_file "$deck" -split test -seed 4 -out rq.h5 -tasks 2 -instances 600 -chunk 2 \
    > rq.out 2>&1
  array=$(sed -n 's/^array_job=//p' rq.out) merge=$(sed -n 's/^merge_job=//p' rq.out)
  log=eloss-spingen-${array}_0.log
  for _ in $(seq 600); do grep -q 'spingen instances: [1-9]' "$log" 2> /dev/null && break; sleep 0.1; done
  scancel --batch --signal=TERM "${array}_0"
  wait_job "$merge"
  grep -q 'requeueing' "$log" && grep -q 'restart 1, -resume' "$log"
  ok $? "an array task stopped by TERM is requeued and resumes (after Slurm's requeue hold)"
  same rq_single.h5 rq.h5
  ok $? "the merge waited for it: merged = one eloss spingen run"
fi
tap_exit
