# shellcheck shell=bash
# The life cycle every paper reproduction of jobs/ shares (sourced, not
# run; jobs/table5, jobs/fig4): settings checked before any work, the MPI
# launcher, a stop that checkpoints and exits 3, the OUT_DIR locks, the
# settings record that refuses a rerun with other settings, and the resume
# of an interrupted training. A job keeps only its science: its settings,
# its stages and its report. jobs/repro.sbatch and jobs/submit-repro run
# any such job's stages (data, an array of trainings, report) under Slurm.
#
# A job sets ELOSS, NP, OUT_DIR, LAUNCH and EXTRA, sources this file, then
# (and offers the stage `runs`: its train stages' arguments, one run a line):
#   repro_init NAME                  messages say "NAME: ...", cd to the repository
#   repro_check_words VAR WHAT KNOWN LIST   settings lists, checked up front
#   repro_check_seeds VAR LIST
#   repro_check_extra WHY OPTION...  per-run options EXTRA may not set
#   repro_shards DECK DEFAULT        the training's -shards (the deck's, or EXTRA's)
#   repro_deck_value DECK OPTION DEFAULT   the same for any option
#   repro_check_np SHARDS            NP divides it
#   repro_need_eloss; repro_python MODULE...; repro_launcher
#   repro_lock [RUN DESCRIPTION]     OUT_DIR exclusively, or shared + one run's lock
#   repro_settings TEXT              record the settings, refuse other ones
#   repro_eloss ARGS... / repro_run CMD...   stoppable runs
#   repro_trained LOG; repro_train MODEL LOG ARGS...   one resumable training
#   repro_say MESSAGE                progress on stderr with the elapsed time
# Exit codes: 2 bad settings (before any work), 1 a failure or a busy
# OUT_DIR, 3 stopped (run the job again with the same settings).

# repro_init NAME: the job's name in every message (jobs/NAME); works from
# the repository, so relative OUT_DIR, DECK and ELOSS mean the same from
# any directory.
repro_init() {
  repro_name=$1
  repro_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  cd "$repro_repo" || exit 1
  repro_start=$(date +%s)
  repro_child='' repro_stop=''
}

# repro_die CODE MESSAGE: one line on stderr, exit CODE.
repro_die() {
  local code=$1
  shift
  echo "$repro_name: $*" >&2
  exit "$code"
}

# repro_check_words VAR WHAT KNOWN LIST: every word of LIST (the setting
# VAR) is one of KNOWN, none given twice; exit 2 otherwise. A typo found
# after the data and the first trainings would waste them.
repro_check_words() {
  local var=$1 what=$2 known=$3 word seen=" "
  for word in $4; do
    repro_check_known "$word" "$var" "$what" "$known"
    case $seen in *" $word "*) repro_die 2 "$var: $word is given twice" ;; esac
    seen="$seen$word "
  done
}

# repro_check_known WORD WHERE WHAT KNOWN: WORD is one of KNOWN.
repro_check_known() {
  case " $4 " in *" $1 "*) ;; *) repro_die 2 "$2: unknown $3 '$1' ($4)" ;; esac
}

# repro_check_seed WORD WHERE: a seed as eloss reads it (0 .. 2^31 - 1),
# written plainly: "01" would train seed 1 again and count it as another.
repro_check_seed() {
  [[ $1 =~ ^[0-9]{1,10}$ ]] && [ $((10#$1)) -le 2147483647 ] \
    || repro_die 2 "$2: '$1' is not a seed (an integer from 0 to 2147483647)"
  [ "$1" = "$((10#$1))" ] || repro_die 2 "$2: write '$1' as $((10#$1))"
}

# repro_check_seeds VAR LIST: every seed of LIST well formed, none twice.
repro_check_seeds() {
  local var=$1 seed seen=" "
  for seed in $2; do
    repro_check_seed "$seed" "$var"
    case $seen in *" $seed "*) repro_die 2 "$var: $seed is given twice" ;; esac
    seen="$seen$seed "
  done
}

# repro_check_extra WHY OPTION...: EXTRA (more eloss train options for
# every run) sets none of the options the job sets for each run itself
# (WHY: from which settings, for the message).
repro_check_extra() {
  local why=$1 word option
  shift
  for word in $EXTRA; do
    for option in "$@"; do
      [ "$word" != "$option" ] || repro_die 2 "EXTRA: $word is set by jobs/$repro_name for each run ($why)"
    done
  done
}

# repro_deck_value DECK OPTION DEFAULT: prints the value eloss train will
# use for OPTION: the deck's last OPTION line, or EXTRA's (later on the
# command line), or DEFAULT (eloss train's own). Exit 2 if the deck cannot
# be read. repro_shards DECK DEFAULT is the value of -shards.
repro_deck_value() {
  local deck=$1 option=$2 value i words
  [ -r "$deck" ] || repro_die 2 "DECK: $deck not readable"
  value=$(sed 's/#.*//' "$deck" | awk -v o="$option" '$1 == o { s = $2 } END { print s }')
  read -r -a words <<< "$EXTRA"
  for ((i = 0; i + 1 < ${#words[@]}; i++)); do
    if [ "${words[i]}" = "$option" ]; then value=${words[i + 1]}; fi
  done
  echo "${value:-$3}"
}
repro_shards() {
  repro_deck_value "$1" -shards "$2"
}

# repro_check_np SHARDS: NP is a rank count dividing SHARDS, checked here
# and not by the first training after the data.
repro_check_np() {
  [[ $NP =~ ^[1-9][0-9]*$ ]] || repro_die 2 "NP: '$NP' is not a rank count (an integer >= 1)"
  if [[ $1 =~ ^[1-9][0-9]*$ ]] && [ $(($1 % NP)) != 0 ]; then
    repro_die 2 "NP=$NP does not divide the training's -shards $1: choose a divisor of $1" \
                "(the models are the same bytes for any of them)"
  fi
}

# repro_need_eloss: the program is there.
repro_need_eloss() {
  [ -x "$ELOSS" ] || repro_die 1 "$ELOSS not found; run jobs/local build first"
}

# repro_python MODULE... (then PACKAGE...: their Debian packages, after
# "--"): sets repro_py to the first of $PYTHON, python3 and /usr/bin/python3
# that imports every module.
# shellcheck disable=SC2034  # repro_py is read by the jobs
repro_python() {
  local modules=() packages=() candidate
  while [ $# -gt 0 ] && [ "$1" != -- ]; do modules+=("$1"); shift; done
  [ $# = 0 ] || shift
  packages=("$@")
  repro_py=
  for candidate in "${PYTHON:-python3}" /usr/bin/python3; do
    if "$candidate" -c "import $(IFS=,; echo "${modules[*]}")" 2> /dev/null; then repro_py=$candidate; return 0; fi
  done
  local list
  list=$(printf '%s, ' "${modules[@]}")
  repro_die 1 "no python3 with ${list%, } (Debian: ${packages[*]})"
}

# repro_launcher: ${repro_launch[@]}, the command line that starts NP ranks:
# LAUNCH (jobs/repro.sbatch: srun), else mpiexec, told that root and more
# ranks than cores are fine. Also checks that flock is there.
repro_launcher() {
  local mpi_flags=(--oversubscribe)
  if [ "$(id -u)" -eq 0 ]; then
    mpi_flags+=(--allow-run-as-root)
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  fi
  export OMPI_MCA_btl_vader_single_copy_mechanism=none
  if [ -n "$LAUNCH" ]; then
    read -r -a repro_launch <<< "$LAUNCH"
  else
    repro_launch=(mpiexec "${mpi_flags[@]}" -n "$NP")
  fi
  command -v "${repro_launch[0]}" > /dev/null || repro_die 1 "${repro_launch[0]} not found (Debian: openmpi-bin)"
  command -v flock > /dev/null || repro_die 1 "flock not found (Debian: util-linux)"
  # Every run in the background, so that a stop (SIGTERM or SIGUSR1 to the
  # job, as jobs/repro.sbatch forwards Slurm's; SIGINT, Ctrl-C) reaches its
  # ranks as SIGUSR1: they checkpoint and exit with code 3, and so does the
  # job, saying how to continue. eloss's own "-resume" advice is for eloss
  # alone: the job adds -resume itself when rerun.
  trap 'repro_stop=1; [ -n "$repro_child" ] && kill -USR1 "$repro_child" 2>/dev/null; true' INT TERM USR1
}

# repro_stopped: exit 3 with the advice to run the job again.
repro_stopped() {
  echo "$repro_name: stopped; to continue, run jobs/$repro_name again with the same settings (it resumes what was" \
       "interrupted; do not run eloss -resume yourself)" >&2
  exit 3
}

# repro_run CMD...: runs CMD in the background and waits for it; a stop
# before or during it exits 3 (repro_stopped); otherwise returns its code.
repro_run() {
  local code=0
  [ -z "$repro_stop" ] || repro_stopped
  "$@" &
  repro_child=$!
  wait "$repro_child" || code=$?
  # wait returns early when the trap fires; wait again for the ranks.
  while kill -0 "$repro_child" 2>/dev/null; do code=0; wait "$repro_child" || code=$?; done
  repro_child=
  [ "$code" != 3 ] || repro_stopped
  [ "$code" = 0 ] || [ -z "$repro_stop" ] || repro_stopped
  return "$code"
}

# repro_eloss ARGS...: eloss ARGS on the launcher's ranks, as repro_run.
repro_eloss() {
  repro_run "${repro_launch[@]}" "$ELOSS" "$@"
}

# repro_lock [RUN DESCRIPTION]: one run per OUT_DIR. Without arguments (the
# whole job, its data and report stages) OUT_DIR/.lock exclusively; with
# them (a train stage) shared, so that an array of trainings runs side by
# side, and OUT_DIR/.lock.RUN exclusively (DESCRIPTION says what it
# trains). The locks live as long as the job and the runs it started.
# Creates OUT_DIR.
repro_lock() {
  mkdir -p "$OUT_DIR"
  exec {repro_lock_fd}>>"$OUT_DIR/.lock"
  if [ $# = 2 ]; then
    flock -n -s "$repro_lock_fd" || repro_busy "$OUT_DIR/.lock"
    exec {repro_run_fd}>>"$OUT_DIR/.lock.$1"
    flock -n "$repro_run_fd" || repro_busy "$OUT_DIR/.lock.$1 ($2)"
  else
    flock -n "$repro_lock_fd" || repro_busy "$OUT_DIR/.lock"
  fi
}

repro_busy() {
  repro_die 1 "OUT_DIR $OUT_DIR is in use: another jobs/$repro_name run holds $1; wait for it to end, or choose" \
              "another OUT_DIR"
}

# repro_settings TEXT...: the settings OUT_DIR's results belong to (those
# that change results; never NP: the data and models are the same for any
# NP dividing -shards), the words of every argument. Recorded in
# OUT_DIR/settings on the first run; a later run with other ones is refused
# (exit 1).
repro_settings() {
  local settings="$*" there
  if [ -e "$OUT_DIR/settings" ]; then
    # Directories written before NP left the settings have " NP=<n>" in them.
    there=$(sed 's/ NP=[^ ]*//' "$OUT_DIR/settings")
    if [ "$there" != "$settings" ]; then
      echo "$repro_name: $OUT_DIR holds results of other settings:" >&2
      echo "  there: $there" >&2
      echo "  now:   $settings" >&2
      repro_die 1 "choose another OUT_DIR, or remove $OUT_DIR"
    fi
  fi
  if [ "$(cat "$OUT_DIR/settings" 2>/dev/null)" != "$settings" ]; then
    echo "$settings" > "$OUT_DIR/settings.tmp.$$"
    mv "$OUT_DIR/settings.tmp.$$" "$OUT_DIR/settings"
  fi
}

# repro_trained LOG: the training whose eloss output is LOG has finished.
repro_trained() {
  [ -e "$1" ] && grep -q "samples_per_s=" "$1"
}

# repro_train MODEL LOG ARGS...: eloss train ARGS -out MODEL $EXTRA, its
# output published as LOG when it ends. An interrupted run continues
# (-resume); a model without its log (killed between the two) or one that
# cannot be continued is trained again from scratch (-force). A stop exits 3.
repro_train() {
  local model=$1 log=$2 code=1
  shift 2
  if [ -e "$model" ]; then
    code=0
    # shellcheck disable=SC2086
    repro_eloss train "$@" -out "$model" -resume $EXTRA > "$log.tmp" || code=$?
  fi
  # shellcheck disable=SC2086
  [ "$code" = 0 ] || repro_eloss train "$@" -out "$model" -force $EXTRA > "$log.tmp"
  mv "$log.tmp" "$log"
}

# repro_probe_extra WHAT ARGS...: EXTRA judged by eloss train itself before
# any work (exit 2 with its message), on the deck with ARGS (the per-run
# options of one kind of run, WHAT names it): found by the first training
# instead, it would already be in OUT_DIR's settings, after the data. ARGS
# name input files that do not exist, so a probe whose options pass stops
# at exit 1 before it writes anything.
repro_probe_extra() {
  local what=$1 why code=0
  shift
  [ -n "$EXTRA" ] || return 0
  # shellcheck disable=SC2086
  why=$("$ELOSS" train -options_file "$DECK" "$@" -out /nonexistent/eloss-probe.ckpt $EXTRA 2>&1 > /dev/null) || code=$?
  [ "$code" != 2 ] || repro_die 2 "EXTRA: eloss train refuses it with $what: ${why#eloss train: error: }"
}

# repro_elapsed: seconds since repro_init.
repro_elapsed() {
  echo $(( $(date +%s) - repro_start ))
}

# repro_say MESSAGE: "NAME: MESSAGE (N s so far)" on stderr.
repro_say() {
  echo "$repro_name: $* ($(repro_elapsed) s so far)" >&2
}
