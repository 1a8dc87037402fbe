# Shared by the jobs/*.sbatch scripts (sourced, not run): the launcher, the
# environment check and the preemptible run. Sourced from $JOBS_DIR, which
# the scripts take from the environment (jobs/submit-* set it) or as
# $SLURM_SUBMIT_DIR/jobs (sbatch run from the repository).
#
#   slurm_setup NAME         check the program and launcher, build ${launch[@]}
#   slurm_run CMD...         run CMD, forward a stop to it, requeue on exit 3
#
# LAUNCH is the MPI launcher, a command line the program's arguments follow:
#   LAUNCH="srun --mpi=pmix --kill-on-bad-exit=1"  (default) Slurm starts the ranks; Debian's
#                             Open MPI needs PMIx; a rank that dies ends the step (Slurm's
#                             default KillOnBadExit=0 would leave the others waiting)
#                             (bare srun or --mpi=pmi2 starts singletons that never meet)
#   LAUNCH=mpirun             Open MPI's mpirun inside the allocation (it reads the node list)
LAUNCH=${LAUNCH:-srun --mpi=pmix --kill-on-bad-exit=1}
# ON_STOP: what a stopped job (exit 3, checkpoint written) does next:
#   requeue   (default) scontrol requeue: the same job id, so jobs that depend
#             on it still wait for it; Slurm holds a requeued job for about
#             2 minutes (its old credential is revoked meanwhile)
#   resubmit  sbatch a new job of the same script and settings at once (new id,
#             printed as "resubmitted as job N"); not for array tasks or jobs
#             others depend on (their dependency fails with the old job)
ON_STOP=${ON_STOP:-requeue}

slurm_setup() {
  slurm_name=$1
  read -r -a launch <<< "$LAUNCH"
  command -v "${launch[0]}" > /dev/null || { echo "$slurm_name: launcher ${launch[0]} not found (LAUNCH=$LAUNCH)" >&2; exit 1; }
  case ${launch[0]##*/} in
    # mpirun reads the task count from the allocation; --oversubscribe lets
    # a test allocation of fewer cores than ranks run.
    mpirun|mpiexec) launch+=(--oversubscribe) ;;
  esac
  [ -x "$ELOSS" ] || { echo "$slurm_name: $ELOSS not found: run jobs/local build first" >&2; exit 1; }
  # Open MPI refuses root unless told (containers, test clusters); the
  # variables reach srun's tasks and mpirun's daemons alike.
  if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
  # Containers often forbid the cross-memory-attach fast path of shared memory.
  export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}
}

# Slurm sends SIGTERM to the batch shell before the time limit or on
# preemption (scancel --batch --signal=TERM does the same by hand). The trap
# forwards it as SIGUSR1 to the launcher, which passes it to every rank
# (srun and mpirun both forward SIGUSR1); the ranks checkpoint and exit with
# code 3, and the job is requeued: its next attempt continues from the
# checkpoint. Returns the program's exit code.
slurm_run() {
  "$@" &
  local child=$! code
  trap 'kill -USR1 "$child" 2> /dev/null || true' TERM
  set +e
  wait "$child"
  code=$?
  # wait returns early when the trap fires; wait again for the ranks.
  while kill -0 "$child" 2> /dev/null; do wait "$child"; code=$?; done
  set -e
  trap - TERM
  if [ "$code" = 3 ] && [ -n "${SLURM_JOB_ID:-}" ]; then
    if [ "$ON_STOP" = resubmit ] && [ -z "${SLURM_ARRAY_TASK_ID:-}" ]; then
      # The script as submitted (not the spool copy), the settings through
      # the environment, without this job's SLURM_* values.
      local script unset=() v
      script=$(scontrol -o show job "$SLURM_JOB_ID" | sed -n 's/.* Command=\([^ ]*\).*/\1/p')
      for v in $(compgen -e); do case $v in SLURM_CONF) ;; SLURM_*) unset+=(-u "$v") ;; esac; done
      local id
      id=$(env "${unset[@]}" sbatch --parsable --export=ALL --chdir="$SLURM_SUBMIT_DIR" "$script")
      echo "$slurm_name: stopped with a checkpoint; resubmitted as job ${id%%;*}"
    else
      echo "$slurm_name: stopped with a checkpoint; requeueing job $SLURM_JOB_ID"
      scontrol requeue "$SLURM_JOB_ID"
    fi
  fi
  return "$code"
}
